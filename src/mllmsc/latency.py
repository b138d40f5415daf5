"""Wall time per stage of a transmission, in milliseconds (what every ``latency_ms`` holds)."""

from __future__ import annotations

import time


class StageClock:
    """Laps of named stages plus their running ``total``.

    Example:
        >>> clock = StageClock()
        >>> ...; clock.lap("encode")
        >>> ...; clock.lap("channel")
        >>> clock.laps                  # {"encode": 3.1, "channel": 0.4, "total": 3.5}
    """

    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, stage: str) -> None:
        """Close ``stage`` now (a stage timed twice adds up)."""
        now = time.perf_counter()
        self.laps[stage] = self.laps.get(stage, 0.0) + 1000 * (now - self.last)
        self.laps["total"] = 1000 * (now - self.start)
        self.last = now

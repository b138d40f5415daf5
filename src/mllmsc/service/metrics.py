"""Prometheus metrics of the edge (``GET /metrics``, text exposition format).

==================================== ========= ==============================================
name                                 type      labels / meaning
==================================== ========= ==============================================
mllmsc_requests_total                counter   endpoint, code: every answered request
mllmsc_errors_total                  counter   endpoint, code: answers with code >= 400
mllmsc_request_seconds               histogram endpoint: from the first byte in to the answer
mllmsc_stage_seconds                 histogram endpoint, stage: decode, guidance, allocate, ...
mllmsc_queue_depth                   gauge     requests admitted and waiting for a worker
mllmsc_in_flight                     gauge     jobs running on the workers
mllmsc_admitted                      gauge     requests inside (waiting + running)
process_resident_memory_bytes, ...   (the standard process collector, to watch memory)
==================================== ========= ==============================================

Each app has its own :class:`~prometheus_client.CollectorRegistry` (not the process-global one),
so two servers in one process (the tests) do not share counts. ``endpoint`` is the route's path
for the known routes and ``other`` for anything else, so a scan of random URLs cannot blow up the
number of series.
"""

from __future__ import annotations

import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

from mllmsc.service.errors import ASGIApp, Message, Receive, Scope, Send
from mllmsc.service.gate import Gate

# Request latency from loopback refusals (< 1 ms) to a whole link on a large image (tens of s).
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    """The edge's metrics in their own registry.

    Args:
        gate: read for the queue gauges at scrape time.
        endpoints: the paths reported by name (others are ``other``).
    """

    def __init__(self, gate: Gate, endpoints: tuple[str, ...]) -> None:
        self.endpoints = frozenset(endpoints)
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("mllmsc_requests", "Requests answered", ["endpoint", "code"], registry=r)
        self.errors = Counter(
            "mllmsc_errors", "Requests answered with an error", ["endpoint", "code"], registry=r
        )
        self.latency = Histogram(
            "mllmsc_request_seconds", "Time to answer", ["endpoint"], buckets=BUCKETS, registry=r
        )
        self.stages = Histogram(
            "mllmsc_stage_seconds",
            "Time per stage of a job",
            ["endpoint", "stage"],
            buckets=BUCKETS,
            registry=r,
        )
        Gauge("mllmsc_queue_depth", "Admitted requests waiting for a worker", registry=r).set_function(
            lambda: gate.waiting
        )
        Gauge("mllmsc_in_flight", "Jobs running on the workers", registry=r).set_function(
            lambda: gate.running
        )
        Gauge("mllmsc_admitted", "Requests inside (waiting + running)", registry=r).set_function(
            lambda: gate.admitted
        )
        ProcessCollector(registry=r)

    def endpoint(self, path: str) -> str:
        return path if path in self.endpoints else "other"

    def observe_stages(self, endpoint: str, latency_ms: dict[str, float]) -> None:
        """Record a job's per-stage wall times (milliseconds; ``total`` is skipped)."""
        for stage, ms in latency_ms.items():
            if stage != "total":
                self.stages.labels(endpoint, stage).observe(ms / 1000)

    def exposition(self) -> tuple[bytes, str]:
        """The text format and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """ASGI middleware (outermost): counts every answer by endpoint and status, and times it."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # what the server answers if the app dies before starting a response

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            endpoint = self.metrics.endpoint(scope["path"])
            self.metrics.requests.labels(endpoint, str(status)).inc()
            if status >= 400:
                self.metrics.errors.labels(endpoint, str(status)).inc()
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - start)

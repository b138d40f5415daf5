"""The whole MLLM-SC link, wiring only: guidance, then a transmission method.

    x, intent ──► guidance(x, intent, channel state) ──► m ──► method(x, m, channel, snr, cbr) ──► x̂

The method (:mod:`mllmsc.methods`) does the rest: for ``ia-jscc`` allocate → encode → channel →
decode, for ``uniform-jscc`` the same with uniform allocation (the Deep JSCC / ADJSCC baseline of
the same model), for ``digital`` the separate codec and LDPC link. Every stage is timed; the
result carries the symbol bill (``payload + side_info == total <= budget``).

>>> pipe = Pipeline(METHODS.build("ia-jscc"), CHANNELS.build("awgn"), build_guidance("auto"))
>>> result = pipe(x, 10.0, 1 / 16, intent="the red car", generator=torch.Generator().manual_seed(0))
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import torch

from mllmsc.latency import StageClock
from mllmsc.types import ChannelState, TransmissionResult

if TYPE_CHECKING:
    from mllmsc.channel import Channel
    from mllmsc.guidance import Guidance
    from mllmsc.methods.base import TransmissionMethod

#: Stages of the JSCC link, in order, as ``latency_ms`` names them.
STAGES = ("guidance", "allocate", "encode", "channel", "decode")


class Pipeline:
    """Guidance + transmission method; one ``__call__`` per batch of images.

    Args:
        method: a built transmission method (``METHODS.build("ia-jscc")``, ...).
        channel: a :mod:`mllmsc.channel` block.
        guidance: a :mod:`mllmsc.guidance` backend; ``None`` runs no guidance (only for methods
            that do not read an importance map).
        channel_name: registry name of the channel, handed to the guidance as channel state.
    """

    def __init__(
        self,
        method: TransmissionMethod,
        channel: Channel,
        guidance: Guidance | None = None,
        *,
        channel_name: str | None = None,
    ) -> None:
        self.method = method
        self.channel = channel
        self.guidance = guidance
        self.channel_name = channel_name

    def __call__(
        self,
        x: torch.Tensor,
        snr_db: float,
        cbr: float,
        *,
        intent: str | None = None,
        generator: torch.Generator | None = None,
    ) -> TransmissionResult:
        """Send ``x`` at ``snr_db`` with ``floor(cbr·3·H·W)`` channel symbols per image.

        Shapes:
            x: ``[B, 3, H, W]`` in [0, 1] → ``x_hat`` same.
        """
        clock = StageClock()
        importance = None
        if self.guidance is not None:
            importance = self.guidance(x, intent, ChannelState(snr_db, cbr, self.channel_name))
            clock.lap("guidance")
        result = self.method(x, importance, self.channel, snr_db, cbr, generator=generator)
        guidance_ms = clock.laps.get("guidance", 0.0)
        latency = {"guidance": guidance_ms} if self.guidance is not None else {}
        latency.update({k: v for k, v in result.latency_ms.items() if k != "total"})
        latency["total"] = guidance_ms + result.latency_ms.get("total", 0.0)
        return replace(result, latency_ms=latency)

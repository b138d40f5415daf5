"""The whole MLLM-SC link, wiring only: guidance → allocation → encode → channel → decode.

    x, intent ──► guidance(x, intent, csi) ──► m ──► allocate(m, budget) ──► k (+ side info)
                                                                              │
    x, m, k ──► codec.encode ──► z (+ gain header) ──► channel(z, snr) ──► y ──► codec.decode(y, k) ──► x̂

``guidance = "uniform"`` sends no side information and is the Deep JSCC / ADJSCC baseline of the
same model. Every stage is timed; the result carries the bandwidth bill of
:class:`~mllmsc.types.Allocation` (``payload + side_info == total <= budget``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from mllmsc.channel import Channel
from mllmsc.codec import IAJSCC
from mllmsc.codec.allocation import (
    allocate,
    allocate_uniform,
    allocation_from_levels,
    decode_side_info,
    encode_side_info,
    symbol_budget,
)
from mllmsc.guidance import Guidance, UniformGuidance
from mllmsc.types import Allocation, ChannelOutput, ChannelState, ImportanceMap

STAGES = ("guidance", "allocate", "encode", "channel", "decode")


@dataclass(frozen=True)
class TransmissionResult:
    """One image through the link.

    Attributes:
        x_hat: the reconstruction, ``[B, 3, H, W]`` in [0, 1].
        importance: the guidance output.
        allocation: symbols per cell and the symbol bill.
        channel: the channel's output (``y``, ``h``, ``noise_var``).
        latency_ms: wall time of each stage and the total.
    """

    x_hat: torch.Tensor
    importance: ImportanceMap
    allocation: Allocation
    channel: ChannelOutput
    latency_ms: dict[str, float] = field(default_factory=dict)


class Pipeline:
    """MLLM-SC end to end; one ``__call__`` per batch of images.

    Args:
        codec: the IA-JSCC model (the user owns its device and dtype).
        channel: a :mod:`mllmsc.channel` block.
        guidance: a :mod:`mllmsc.guidance` backend; :class:`UniformGuidance` gives uniform allocation.
        channel_name: registry name of the channel, handed to the guidance as channel state.
        concentration, floor, n_levels: the importance-allocation rule (see
            :func:`mllmsc.codec.allocation.allocate`).
    """

    def __init__(
        self,
        codec: IAJSCC,
        channel: Channel,
        guidance: Guidance | None = None,
        *,
        channel_name: str | None = None,
        concentration: float = 1.0,
        floor: float = 0.1,
        n_levels: int = 4,
    ) -> None:
        self.codec = codec
        self.channel = channel
        self.guidance = guidance or UniformGuidance()
        self.channel_name = channel_name
        self.allocation_rule = dict(concentration=concentration, floor=floor, n_levels=n_levels)

    @torch.inference_mode()
    def __call__(
        self,
        x: torch.Tensor,
        snr_db: float,
        cbr: float,
        *,
        intent: str | None = None,
        generator: torch.Generator | None = None,
    ) -> TransmissionResult:
        """Send ``x`` at ``snr_db`` with ``cbr·3·H·W`` channel symbols per image.

        Shapes:
            x: ``[B, 3, H, W]`` in [0, 1] → ``x_hat`` same.
        """
        b, _, height, width = x.shape
        clock = _Clock()
        importance = self.guidance(x, intent, ChannelState(snr_db, cbr, self.channel_name))
        clock.lap("guidance")

        budget = symbol_budget(cbr, height, width)
        # The codec's gain header is part of its payload: the cells share what is left of it.
        codec_shape = dict(cell=self.codec.cell, k_max=self.codec.k_max, reserved=self.codec.header_symbols)
        uniform = isinstance(self.guidance, UniformGuidance)
        if uniform:
            allocation = allocate_uniform(b, height, width, budget, **codec_shape)
        else:
            allocation = allocate(importance.soft, budget, **codec_shape, **self.allocation_rule)
        k = allocation.k.to(x.device)
        clock.lap("allocate")

        z, _, gain = self.codec.encode(x, k, snr_db, importance=None if uniform else importance.soft)
        clock.lap("encode")
        out = self.channel(z, snr_db, generator=generator)
        clock.lap("channel")
        k_rx = k if uniform else self._receiver_k(allocation).to(x.device)
        x_hat = self.codec.receive(out, k_rx, snr_db, gain=gain, size=(height, width))
        clock.lap("decode")
        return TransmissionResult(x_hat, importance, allocation, out, clock.laps)

    def _receiver_k(self, allocation: Allocation) -> torch.Tensor:
        """What the receiver does first: decode the side information and rerun the allocation rule.

        The side information is sent at QPSK rate 1/3 and taken as error-free (see
        :mod:`mllmsc.codec.allocation`); this path checks that the bits alone determine ``k``.
        """
        levels = allocation.levels
        grid = tuple(levels.shape[-2:])
        n_levels = self.allocation_rule["n_levels"]
        received = torch.stack(
            [decode_side_info(encode_side_info(q[0], n_levels), grid, n_levels)[None] for q in levels]
        )
        return allocation_from_levels(
            received,
            allocation.budget,
            height=allocation.height,
            width=allocation.width,
            cell=allocation.cell,
            k_max=allocation.k_max,
            reserved=self.codec.header_symbols,
            **self.allocation_rule,
        ).k


class _Clock:
    """Wall time per stage, in ms, plus the total."""

    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.laps[stage] = 1000 * (now - self.last)
        self.laps["total"] = 1000 * (now - self.start)
        self.last = now

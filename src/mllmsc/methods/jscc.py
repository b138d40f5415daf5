"""Learned JSCC codecs as transmission methods: ``uniform-jscc``, ``ia-jscc`` and ``deep-jscc``.

``uniform-jscc`` and ``ia-jscc`` are IA-JSCC with its two allocators; ``deep-jscc`` is the field's
CNN (:class:`~mllmsc.codec.deep_jscc.DeepJSCC`) trained here at the same compute, uniform only.
Both models speak one codec protocol (``cell``, ``k_max``, ``header_symbols``, ``encode``,
``receive``), so one link serves them::

    x, m ──► allocator.allocate(m, budget) ──► k, side bits
    x, m, k ──► codec.encode ──► z (+ gain header) ──► channel(z, snr) ──► y
    side bits ──► allocator.receive ──► k ──► codec.receive(y, k) ──► x̂

The transmitter and the receiver each call the allocator; the receiver sees only the side bits
(taken as error-free: they travel at QPSK rate 1/3, see :mod:`mllmsc.codec.allocation`).
"""

from __future__ import annotations

from pathlib import Path

import torch

from mllmsc.codec import IAJSCC, allocator_for, symbol_budget
from mllmsc.codec.deep_jscc import DeepJSCC
from mllmsc.latency import StageClock
from mllmsc.methods.base import FLAT_MAP_FALLBACK, Shared, TransmissionMethod, is_flat
from mllmsc.types import ImportanceMap, TransmissionResult

#: The codec models a JSCC method can run, by the name of their shipped weights.
CODECS: dict[str, type[IAJSCC] | type[DeepJSCC]] = {"ia-jscc": IAJSCC, "deep-jscc": DeepJSCC}


class JSCCMethod(TransmissionMethod):
    """A learned JSCC link with one allocator.

    Args:
        allocator: ``"uniform"`` or ``"importance"`` (:data:`mllmsc.codec.allocation.ALLOCATORS`).
        name: the registry name this method reports.
        model: which codec (a key of :data:`CODECS`).
        weights: a model folder (``config.json`` + ``model.safetensors``); default: the folder
            ``shared.weights[model]`` names, else the shipped weights of ``model``.
        codec: an already loaded model instead of ``weights`` (the caller owns its device).
        shared: what this run's methods share (one codec for ``uniform-jscc`` and ``ia-jscc``).
        rule: allocation-rule options for the importance allocator (``concentration``,
            ``floor``, ``n_levels``).
    """

    def __init__(
        self,
        *,
        allocator: str,
        name: str,
        model: str = "ia-jscc",
        weights: str | Path | None = None,
        codec: IAJSCC | DeepJSCC | None = None,
        shared: Shared | None = None,
        **rule,
    ) -> None:
        if codec is None:
            from mllmsc.weights import weights_path

            shared = shared if shared is not None else Shared()
            folder = Path(weights or shared.weights.get(model) or weights_path(model))
            codec = shared.get(
                (model, folder.resolve()), lambda: CODECS[model].from_pretrained(folder).eval()
            )
        self.name = name
        self.codec = codec
        self.allocator = allocator_for(codec, allocator, **rule)
        self.uniform = allocator_for(codec, "uniform")
        self.needs_importance = self.allocator.uses_importance

    @torch.inference_mode()
    def transmit(
        self,
        x: torch.Tensor,
        importance: ImportanceMap | None,
        channel,
        snr_db: float,
        cbr: float,
        *,
        generator: torch.Generator | None = None,
    ) -> TransmissionResult:
        b, _, height, width = x.shape
        clock = StageClock()
        budget = symbol_budget(cbr, height, width)
        m = importance.soft if importance is not None else torch.ones(b, 1, height, width)
        allocator, details = self.allocator, {}
        if allocator.uses_importance and is_flat(m):
            # A map that singles out nothing (an empty mask, a uniform map) would pay side
            # information to describe an even split: send as uniform, and say so.
            allocator = self.uniform
            details["fallback"] = FLAT_MAP_FALLBACK
        allocation = allocator.allocate(m, budget)
        clock.lap("allocate")

        conditioning = m.to(x.device) if allocator.uses_importance else None
        z, _, gain = self.codec.encode(x, allocation.k.to(x.device), snr_db, importance=conditioning)
        clock.lap("encode")
        out = channel(z, snr_db, generator=generator)
        clock.lap("channel")
        received = allocator.receive(allocation.side_bits, budget, height, width)
        x_hat = self.codec.receive(out, received.k.to(x.device), snr_db, gain=gain, size=(height, width))
        clock.lap("decode")

        return self.result(
            x_hat, allocation.bill, clock.laps, importance=importance, allocation=allocation, channel=out,
            details=details,
        )  # fmt: skip

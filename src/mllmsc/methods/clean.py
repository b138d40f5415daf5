"""``clean``: the receiver gets the image untouched; the ceiling of every method (a VQA answerer's
accuracy on clean scenes says how much of a loss is the channel's and how much the answerer's)."""

from __future__ import annotations

import torch

from mllmsc.codec import symbol_budget
from mllmsc.methods.base import TransmissionMethod
from mllmsc.types import ImportanceMap, SymbolBill, TransmissionResult


class CleanMethod(TransmissionMethod):
    """No channel, no symbols: ``x_hat`` is a copy of ``x``."""

    name = "clean"

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
        zero = torch.zeros(b, dtype=torch.int64)
        bill = SymbolBill(symbol_budget(cbr, height, width), zero, zero.clone(), height, width)
        return self.result(x.clone(), bill, {"total": 0.0}, importance=importance)

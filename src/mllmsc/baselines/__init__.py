"""Digital separation baselines: an image codec over 5G LDPC + QAM, or over an ideal code.

>>> from mllmsc.baselines import DigitalBaseline
>>> from mllmsc.channel import CHANNELS
>>> digital = DigitalBaseline("heif", CHANNELS.build("rayleigh", csi="equalize"))
>>> result = digital.transmit(x, snr_db=10.0, cbr=1 / 16, generator=torch.Generator().manual_seed(0))
>>> result.x_hat, result.lost, result.mcs, result.quality, result.symbols_used <= result.budget

The transmission methods ``digital`` (HEIF + LDPC), ``digital-jpeg`` (JPEG + LDPC) and
``digital-capacity`` (HEIF over an ideal code) of :data:`mllmsc.methods.METHODS` are built on
:class:`DigitalBaseline`; use them to compare against the other methods on one interface. The
classes are imported on first use (Sionna is slow to import), so ``import mllmsc.baselines``
stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "GREY": "mllmsc.baselines.digital",
    "DigitalBaseline": "mllmsc.baselines.digital",
    "DigitalResult": "mllmsc.baselines.digital",
    "Plan": "mllmsc.baselines.digital",
    "MCS": "mllmsc.baselines.mcs",
    "MCS_TABLE": "mllmsc.baselines.mcs",
    "McsChoice": "mllmsc.baselines.mcs",
    "load_bler_table": "mllmsc.baselines.mcs",
    "select_mcs": "mllmsc.baselines.mcs",
    "EncodeCache": "mllmsc.baselines.source",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mllmsc.baselines' has no attribute {name!r}")


__all__ = list(_LAZY)

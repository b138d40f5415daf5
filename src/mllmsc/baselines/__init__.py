"""Digital separation baselines: an image codec over 5G LDPC + QAM, or over an ideal code.

>>> from mllmsc.baselines import METHODS
>>> from mllmsc.channel import CHANNELS
>>> digital = METHODS.build("digital", channel=CHANNELS.build("rayleigh", csi="equalize"))
>>> result = digital.transmit(x, snr_db=10.0, cbr=1 / 16, generator=torch.Generator().manual_seed(0))
>>> result.x_hat, result.lost, result.mcs, result.quality, result.symbols_used <= result.budget

================= ==================================================================
method            what
================= ==================================================================
digital           HEIF (HEVC intra, the BPG equivalent) + CRC + 5G LDPC + QAM
digital-jpeg      JPEG 4:2:0 + CRC + 5G LDPC + QAM
digital-capacity  HEIF over an ideal code at the channel's (ergodic) capacity
================= ==================================================================

Every factory takes the keyword arguments of :class:`DigitalBaseline` except ``codec`` and
``capacity`` (``channel``, ``target_loss``, ``cache``, ``table``). The classes are imported on
first use (Sionna is slow to import), so ``import mllmsc.baselines`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mllmsc.registry import Registry

if TYPE_CHECKING:
    from mllmsc.baselines.digital import DigitalBaseline

METHODS: Registry[DigitalBaseline] = Registry("method")


def _build(codec: str, capacity: bool, kwargs: dict[str, Any]) -> DigitalBaseline:
    from mllmsc.baselines.digital import DigitalBaseline

    return DigitalBaseline(codec, capacity=capacity, **kwargs)


@METHODS.register("digital")
def digital(**kwargs: Any) -> DigitalBaseline:
    """HEIF + 5G LDPC + QAM with the MCS from the BLER table."""
    return _build("heif", False, kwargs)


@METHODS.register("digital-jpeg")
def digital_jpeg(**kwargs: Any) -> DigitalBaseline:
    """JPEG + 5G LDPC + QAM with the MCS from the BLER table."""
    return _build("jpeg", False, kwargs)


@METHODS.register("digital-capacity")
def digital_capacity(**kwargs: Any) -> DigitalBaseline:
    """HEIF over an ideal capacity-achieving code: the upper bound of separation."""
    return _build("heif", True, kwargs)


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


__all__ = ["METHODS", *_LAZY]

"""Wireless channels built on Sionna's blocks, and transmitter-side power normalisation.

>>> from mllmsc.channel import CHANNELS, power_normalize
>>> channel = CHANNELS.build("rayleigh", coherence=64, csi="equalize")
>>> out = channel(power_normalize(z), 10.0, generator=torch.Generator().manual_seed(0))
>>> out.y, out.h, out.noise_var

Every channel maps complex ``z`` ``[B, ...]`` with unit average power to a
:class:`~mllmsc.types.ChannelOutput` with ``noise_var = 10^(-snr_db/10)`` per complex symbol, and
describes its fading once as a :class:`Fading` (``channel.fading``: the law of ``|h|²``, its
coherence, ``expectation``/``cdf``/``ergodic_capacity``), which capacity, MCS choice and BER
closed forms read instead of the channel's type.

======== ==========================================================================
name     what
======== ==========================================================================
awgn     additive white Gaussian noise
rayleigh flat Rayleigh block fading (coherence: per item, per N symbols, per symbol)
rician   Rician block fading with K factor (LOS + Sionna Rayleigh)
ofdm-tdl OFDM over 3GPP TDL-A…E, perfect or LS-estimated CSI
======== ==========================================================================
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mllmsc.registry import Registry

if TYPE_CHECKING:
    from mllmsc.channel.base import Channel

# Sionna takes seconds to import: the blocks load when a channel is first built, so a command
# can check a channel's name (CHANNELS.require) before anything heavy is imported.
CHANNELS: Registry[Channel] = Registry("channel")
CHANNELS.register_lazy("awgn", "mllmsc.channel.awgn:AWGNChannel")
CHANNELS.register_lazy("rayleigh", "mllmsc.channel.fading:RayleighChannel")
CHANNELS.register_lazy("rician", "mllmsc.channel.fading:RicianChannel")
CHANNELS.register_lazy("ofdm-tdl", "mllmsc.channel.ofdm:OFDMTDLChannel")

_LAZY = {
    "AWGNChannel": "mllmsc.channel.awgn",
    "Channel": "mllmsc.channel.base",
    "noise_variance": "mllmsc.channel.base",
    "RayleighChannel": "mllmsc.channel.fading",
    "RicianChannel": "mllmsc.channel.fading",
    "mmse_equalize": "mllmsc.channel.fading",
    "OFDMTDLChannel": "mllmsc.channel.ofdm",
    "power_normalize": "mllmsc.channel.power",
    "power_scale": "mllmsc.channel.power",
    "Fading": "mllmsc.channel.statistics",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mllmsc.channel' has no attribute {name!r}")


__all__ = ["CHANNELS", *sorted(_LAZY)]

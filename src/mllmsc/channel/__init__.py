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

from mllmsc.channel.awgn import AWGNChannel
from mllmsc.channel.base import Channel, noise_variance
from mllmsc.channel.fading import RayleighChannel, RicianChannel, mmse_equalize
from mllmsc.channel.ofdm import OFDMTDLChannel
from mllmsc.channel.power import power_normalize, power_scale
from mllmsc.channel.statistics import Fading
from mllmsc.registry import Registry

CHANNELS: Registry[Channel] = Registry("channel")
CHANNELS.register("awgn")(AWGNChannel)
CHANNELS.register("rayleigh")(RayleighChannel)
CHANNELS.register("rician")(RicianChannel)
CHANNELS.register("ofdm-tdl")(OFDMTDLChannel)

__all__ = [
    "CHANNELS",
    "AWGNChannel",
    "Channel",
    "Fading",
    "OFDMTDLChannel",
    "RayleighChannel",
    "RicianChannel",
    "mmse_equalize",
    "noise_variance",
    "power_normalize",
    "power_scale",
]

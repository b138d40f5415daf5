"""Channel capacity in bit per complex symbol: the ideal code behind ``digital-capacity``.

The capacity is a property of the channel's fading statistics, so it lives there
(:meth:`mllmsc.channel.Fading.ergodic_capacity`); this module reads it from the channel's own
description (``channel.fading``) and keeps the named formulas:

* AWGN: ``log2(1 + SNR)``.
* Rayleigh (``|h|² ~ Exp(1)``, perfect CSI at the receiver): the ergodic capacity
  ``E[log2(1 + SNR·|h|²)] = e^{1/SNR} E1(1/SNR) / ln 2`` (closed form, E1 the exponential integral).
* Rician with factor ``K`` (``E|h|² = 1``): ``E[log2(1 + SNR·|h|²)]`` by the package's quadrature
  over the noncentral-χ² law of ``|h|²``.
* OFDM over TDL: its description is a Rayleigh stand-in (see
  :attr:`mllmsc.channel.OFDMTDLChannel.fading`), so the bound is the Rayleigh ergodic value, on the
  safe (lower) side of the per-slot normalised truth, which lies between Rayleigh and AWGN.

The ergodic capacity is what an ideal code achieves when each codeword sees many fades; with one
fade per image (``coherence=None``) no fixed rate reaches it without CSI at the transmitter, so
``digital-capacity`` over block fading is an optimistic bound, which is what an upper bound should be.
"""

from __future__ import annotations

import numpy as np

from mllmsc.channel import Channel, Fading

__all__ = [
    "awgn_capacity",
    "capacity_bits",
    "channel_capacity",
    "rayleigh_ergodic_capacity",
    "rician_ergodic_capacity",
]


def awgn_capacity(snr_db: float) -> float:
    """``log2(1 + SNR)`` bit per complex symbol, SNR = Es/N0."""
    return Fading.none().ergodic_capacity(snr_db)


def rayleigh_ergodic_capacity(snr_db: float) -> float:
    """``E[log2(1 + SNR·|h|²)]`` for ``h ~ CN(0, 1)``: ``e^{1/SNR} E1(1/SNR) / ln 2``."""
    return Fading.rayleigh().ergodic_capacity(snr_db)


def rician_ergodic_capacity(snr_db: float, k_factor: float) -> float:
    """``E[log2(1 + SNR·|h|²)]`` for Rician fading with factor ``K`` and ``E|h|² = 1``.

    ``K = 0`` is exactly the Rayleigh closed form and ``K = ∞`` exactly AWGN.
    """
    return Fading.rician(k_factor).ergodic_capacity(snr_db)


def channel_capacity(channel: Channel, snr_db: float) -> float:
    """Bit per complex symbol that an ideal code gets through ``channel`` at ``snr_db``."""
    return channel.fading.ergodic_capacity(snr_db)


def capacity_bits(symbols: int, bits_per_symbol: float) -> int:
    """Source bits an ideal code sends in ``symbols`` channel uses: ``floor(symbols · C)``."""
    # The tiny slack keeps an exact product (e.g. 3 · 2.0) from flooring to one bit less.
    return int(np.floor(symbols * bits_per_symbol + 1e-9))

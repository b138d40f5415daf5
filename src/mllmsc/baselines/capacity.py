"""Channel capacity in bit per complex symbol: the ideal code behind ``digital-capacity``.

* AWGN: ``log2(1 + SNR)``.
* Rayleigh (``|h|² ~ Exp(1)``, perfect CSI at the receiver): the ergodic capacity
  ``E[log2(1 + SNR·|h|²)] = e^{1/SNR} E1(1/SNR) / ln 2`` (closed form, E1 the exponential integral).
* Rician with factor ``K`` (``E|h|² = 1``): ``E[log2(1 + SNR·|h|²)]`` by quadrature over the
  noncentral-χ² law of ``|h|²``.
* OFDM over TDL: the Rayleigh ergodic value. Sionna normalises each slot to mean ``|h|² = 1``, which
  removes the slow fading, so the true value lies between Rayleigh and AWGN; Rayleigh keeps the
  bound on the safe (lower) side rather than guessing the profile's diversity.

The ergodic capacity is what an ideal code achieves when each codeword sees many fades; with one
fade per image (``coherence=None``) no fixed rate reaches it without CSI at the transmitter, so
``digital-capacity`` over block fading is an optimistic bound, which is what an upper bound should be.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate, special, stats

from mllmsc.channel import AWGNChannel, Channel, RayleighChannel, RicianChannel

__all__ = [
    "awgn_capacity",
    "capacity_bits",
    "channel_capacity",
    "rayleigh_ergodic_capacity",
    "rician_ergodic_capacity",
]


def awgn_capacity(snr_db: float) -> float:
    """``log2(1 + SNR)`` bit per complex symbol, SNR = Es/N0."""
    return math.log2(1 + 10 ** (snr_db / 10))


def _exp_e1(x: float) -> float:
    """``e^x E1(x)`` without overflow: the closed form up to x = 50, then its asymptotic series."""
    if x <= 50:
        return math.exp(x) * float(special.exp1(x))
    # e^x E1(x) ~ (1/x) Σ (-1)^n n! / x^n; five terms are exact to ~1e-9 at x = 50.
    return sum((-1) ** n * math.factorial(n) / x ** (n + 1) for n in range(6))


def rayleigh_ergodic_capacity(snr_db: float) -> float:
    """``E[log2(1 + SNR·|h|²)]`` for ``h ~ CN(0, 1)``: ``e^{1/SNR} E1(1/SNR) / ln 2``."""
    snr = 10 ** (snr_db / 10)
    return _exp_e1(1 / snr) / math.log(2)


def rician_ergodic_capacity(snr_db: float, k_factor: float) -> float:
    """``E[log2(1 + SNR·|h|²)]`` for Rician fading with factor ``K`` and ``E|h|² = 1``."""
    if k_factor == 0:
        return rayleigh_ergodic_capacity(snr_db)
    if math.isinf(k_factor):
        return awgn_capacity(snr_db)
    snr = 10 ** (snr_db / 10)
    scale = 2 * (k_factor + 1)  # scale·|h|² ~ ncx2(df=2, nc=2K)
    dist = stats.ncx2(df=2, nc=2 * k_factor)
    lo, hi = dist.ppf(1e-13), dist.isf(1e-13)

    def integrand(u: float) -> float:
        return math.log2(1 + snr * u / scale) * dist.pdf(u)

    value, _ = integrate.quad(integrand, lo, hi, points=[dist.mean()], limit=200)
    return value


def channel_capacity(channel: Channel, snr_db: float) -> float:
    """Bit per complex symbol that an ideal code gets through ``channel`` at ``snr_db``."""
    if isinstance(channel, AWGNChannel):
        return awgn_capacity(snr_db)
    if isinstance(channel, RicianChannel):
        return rician_ergodic_capacity(snr_db, channel.k_factor)
    if isinstance(channel, RayleighChannel):
        return rayleigh_ergodic_capacity(snr_db)
    return rayleigh_ergodic_capacity(snr_db)  # OFDM-TDL and others: see the module docstring


def capacity_bits(symbols: int, bits_per_symbol: float) -> int:
    """Source bits an ideal code sends in ``symbols`` channel uses: ``floor(symbols · C)``."""
    # The tiny slack keeps an exact product (e.g. 3 · 2.0) from flooring to one bit less.
    return int(np.floor(symbols * bits_per_symbol + 1e-9))

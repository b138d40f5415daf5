"""Uncoded transmission over a channel: measured SNR and QPSK bit error rate against theory.

The sanity check of every channel: send QPSK (Sionna's ``Mapper``/``Demapper``) or Gaussian symbols,
measure the received SNR ``E|h z|² / E|y − h z|²`` and the hard-decision BER, and set them beside the
closed forms (AWGN: ``Q(√SNR)``; Rayleigh: ``½(1 − √(γ/(1+γ)))`` with ``γ = Eb/N0 = SNR/2``;
Rician: the Rayleigh/AWGN kernel averaged over the Rician ``|h|²`` by quadrature).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from scipy import integrate, special, stats

from mllmsc.channel import Channel, power_normalize

Modulation = Literal["qpsk", "gaussian"]


def qfunc(x: float) -> float:
    """Gaussian tail probability ``Q(x) = P[N(0,1) > x]``."""
    return 0.5 * math.erfc(x / math.sqrt(2))


def qpsk_ber_awgn(snr_db: float) -> float:
    """Uncoded Gray-mapped QPSK over AWGN at Es/N0 = ``snr_db``: ``Q(√SNR)``."""
    return qfunc(math.sqrt(10 ** (snr_db / 10)))


def qpsk_ber_rayleigh(snr_db: float) -> float:
    """QPSK over flat Rayleigh with coherent detection: ``½(1 − √(γ/(1+γ)))``, ``γ = SNR/2``."""
    g = 10 ** (snr_db / 10) / 2
    return 0.5 * (1 - math.sqrt(g / (1 + g)))


def qpsk_ber_rician(snr_db: float, k_factor: float) -> float:
    """QPSK over flat Rician fading: ``E[Q(√(SNR |h|²))]`` with ``E|h|² = 1``, by quadrature.

    ``2(K+1)|h|²`` is noncentral χ² with 2 degrees of freedom and noncentrality ``2K``.
    """
    if math.isinf(k_factor):
        return qpsk_ber_awgn(snr_db)
    snr = 10 ** (snr_db / 10)
    scale = 2 * (k_factor + 1)
    dist = stats.ncx2(df=2, nc=2 * k_factor) if k_factor > 0 else stats.chi2(df=2)

    def integrand(u: float) -> float:
        return 0.5 * special.erfc(math.sqrt(snr * u / scale) / math.sqrt(2)) * dist.pdf(u)

    # Integrate over the bulk of the distribution only: for large K the pdf is a narrow spike that
    # quad over [0, ∞) would step over.
    lo, hi = dist.ppf(1e-12), dist.isf(1e-12)
    value, _ = integrate.quad(integrand, lo, hi, points=[dist.mean()], limit=200)
    return value


def theory_ber(channel_name: str, snr_db: float, **channel_kwargs) -> float | None:
    """Closed-form QPSK BER for a registered channel, or ``None`` where there is none here."""
    if channel_name == "awgn":
        return qpsk_ber_awgn(snr_db)
    if channel_name == "rayleigh":
        return qpsk_ber_rayleigh(snr_db)
    if channel_name == "rician":
        return qpsk_ber_rician(snr_db, float(channel_kwargs.get("k_factor", 4.0)))
    return None


@dataclass(frozen=True)
class UncodedPoint:
    """One SNR point of :func:`measure_uncoded`."""

    snr_db: float
    measured_snr_db: float
    ber: float | None
    bit_errors: int | None
    bits: int | None


def measure_uncoded(
    channel: Channel,
    snr_db: float,
    *,
    modulation: Modulation = "qpsk",
    num_symbols: int = 200_000,
    generator: torch.Generator | None = None,
) -> UncodedPoint:
    """Send ``num_symbols`` uncoded symbols through ``channel`` and measure SNR (and BER for QPSK).

    The channel must hand ``h`` to the receiver (``csi="decoder"``) or be AWGN: the SNR is measured
    on the raw ``y = h z + n``, and QPSK is detected after zero-forcing ``y / h`` (for one antenna
    hard decisions are the same as after MMSE).
    """
    from sionna.phy.mapping import Demapper, Mapper

    if getattr(channel, "csi", "decoder") != "decoder":
        raise ValueError("measure_uncoded needs the raw channel output: build the channel with csi='decoder'")
    if modulation == "qpsk":
        bits = torch.randint(0, 2, (1, 2 * num_symbols), generator=generator).float()
        z = Mapper("qam", 2, device="cpu")(bits)
    elif modulation == "gaussian":
        z = power_normalize(torch.randn(1, num_symbols, dtype=torch.complex64, generator=generator))
    else:
        raise ValueError(f"modulation must be 'qpsk' or 'gaussian', got {modulation!r}")
    out = channel(z, snr_db, generator=generator)
    h = torch.ones_like(z) if out.h is None else out.h
    signal = (h * z).abs().square().mean().item()
    noise = (out.y - h * z).abs().square().mean().item()
    measured = 10 * math.log10(signal / noise)
    if modulation == "gaussian":
        return UncodedPoint(snr_db, measured, None, None, None)
    demapper = Demapper("app", "qam", 2, hard_out=True, device="cpu")
    z_hat = out.y / h
    decided = demapper(z_hat, out.noise_var[0])
    errors = int((decided != bits).sum().item())
    return UncodedPoint(snr_db, measured, errors / bits.numel(), errors, bits.numel())

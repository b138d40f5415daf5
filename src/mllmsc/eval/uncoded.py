"""Uncoded transmission over a channel: measured SNR and QPSK bit error rate against theory.

The sanity check of every channel: send QPSK (Sionna's ``Mapper``/``Demapper``) or Gaussian symbols,
measure the received SNR ``E|h z|² / E|y − h z|²`` and the hard-decision BER, and set them beside the
closed forms, chosen by the channel's own fading description (``channel.fading``), not its name:
no fading: ``Q(√SNR)``; Rayleigh: ``½(1 − √(γ/(1+γ)))`` with ``γ = Eb/N0 = SNR/2``; Rician: the AWGN
kernel averaged over the Rician ``|h|²`` (:meth:`mllmsc.channel.Fading.expectation`). A channel whose
description is only a stand-in (``exact=False``, OFDM over TDL) gets no theory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from scipy import special

from mllmsc.channel import Channel, Fading, power_normalize

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


def qpsk_ber(fading: Fading, snr_db: float) -> float:
    """Uncoded QPSK with coherent detection over flat fading ``fading``: ``E[Q(√(SNR |h|²))]``.

    Closed forms where they exist (no fading, Rayleigh), else the fading's quadrature. The
    coherence does not matter: it changes how errors cluster, not how many there are on average.
    """
    if fading.law == "none":
        return qpsk_ber_awgn(snr_db)
    if fading.law == "rayleigh":
        return qpsk_ber_rayleigh(snr_db)
    snr = 10 ** (snr_db / 10)
    # Q(√(SNR g)) = ½ erfc(√(SNR g / 2)), vectorised over the quadrature nodes.
    return fading.expectation(lambda g: 0.5 * special.erfc(np.sqrt(snr * g / 2)))


def qpsk_ber_rician(snr_db: float, k_factor: float) -> float:
    """QPSK over flat Rician fading with ``E|h|² = 1`` (``K = 0``: Rayleigh, ``∞``: AWGN)."""
    return qpsk_ber(Fading.rician(k_factor), snr_db)


def theory_ber(channel: Channel | Fading, snr_db: float) -> float | None:
    """Closed-form QPSK BER for ``channel`` (or its fading description), ``None`` where there is none.

    ``None`` when the channel's description is a stand-in (``exact=False``): its law is what
    other callers assume, not a theory to hold measurements against.
    """
    fading = channel if isinstance(channel, Fading) else channel.fading
    return qpsk_ber(fading, snr_db) if fading.exact else None


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

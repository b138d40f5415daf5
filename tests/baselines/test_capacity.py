"""Capacity formulas: AWGN exactly, Rayleigh/Rician ergodic against Monte Carlo and direct integrals."""

import math

import numpy as np
import pytest
from scipy import integrate, stats

from mllmsc.baselines.capacity import (
    awgn_capacity,
    capacity_bits,
    channel_capacity,
    rayleigh_ergodic_capacity,
    rician_ergodic_capacity,
)
from mllmsc.channel import CHANNELS, Channel, Fading


@pytest.mark.parametrize("snr_db", [-5.0, 0.0, 1.0, 7.0, 13.0, 30.0])
def test_awgn_bits_exact(snr_db):
    symbols = 73728  # Kodak at CBR 1/16
    expected = math.floor(symbols * math.log2(1 + 10 ** (snr_db / 10)))
    assert capacity_bits(symbols, awgn_capacity(snr_db)) == expected
    assert channel_capacity(CHANNELS.build("awgn"), snr_db) == awgn_capacity(snr_db)


def test_capacity_bits_does_not_lose_a_bit_to_rounding():
    assert capacity_bits(3, 2.0) == 6
    assert capacity_bits(1000, 0.1) == 100


@pytest.mark.parametrize("snr_db", [-3.0, 0.0, 10.0, 20.0])
def test_rayleigh_ergodic_matches_monte_carlo(snr_db):
    rng = np.random.default_rng(0)
    gain = rng.exponential(size=2_000_000)  # |h|² of h ~ CN(0, 1)
    mc = np.mean(np.log2(1 + 10 ** (snr_db / 10) * gain))
    assert rayleigh_ergodic_capacity(snr_db) == pytest.approx(mc, rel=0.01)
    assert rayleigh_ergodic_capacity(snr_db) < awgn_capacity(snr_db)  # Jensen


def test_rayleigh_closed_form_survives_very_low_snr():
    c = rayleigh_ergodic_capacity(-40.0)
    assert 0 < c < awgn_capacity(-40.0)


@pytest.mark.parametrize("k_factor", [1.0, 4.0, 20.0])
def test_rician_ergodic_matches_monte_carlo(k_factor):
    rng = np.random.default_rng(1)
    n = 1_000_000
    los = math.sqrt(k_factor / (k_factor + 1))
    diffuse = (rng.standard_normal(n) + 1j * rng.standard_normal(n)) * math.sqrt(0.5 / (k_factor + 1))
    gain = np.abs(los + diffuse) ** 2
    mc = np.mean(np.log2(1 + 10 * gain))
    assert rician_ergodic_capacity(10.0, k_factor) == pytest.approx(mc, rel=0.01)
    rician = CHANNELS.build("rician", k_factor=k_factor)
    assert channel_capacity(rician, 10.0) == pytest.approx(mc, rel=0.01)


def test_rician_limits():
    assert rician_ergodic_capacity(10.0, 0.0) == rayleigh_ergodic_capacity(10.0)
    assert rician_ergodic_capacity(10.0, math.inf) == awgn_capacity(10.0)
    assert rayleigh_ergodic_capacity(10.0) < rician_ergodic_capacity(10.0, 4.0) < awgn_capacity(10.0)


class Described(Channel):
    """A channel known only by its fading description (no registered type, no name)."""

    def __init__(self, fading: Fading) -> None:
        super().__init__()
        self._fading = fading

    @property
    def fading(self) -> Fading:
        return self._fading


@pytest.mark.parametrize("snr_db", [-5.0, 10.0, 25.0])
def test_named_formulas_against_direct_integrals(snr_db):
    snr = 10 ** (snr_db / 10)
    rayleigh, _ = integrate.quad(lambda g: math.log2(1 + snr * g) * math.exp(-g), 0, np.inf, epsrel=1e-12)
    assert rayleigh_ergodic_capacity(snr_db) == pytest.approx(rayleigh, rel=1e-9)
    k = 4.0  # |h|² = u / (2(K+1)), u ~ noncentral χ²(2, 2K)
    dist = stats.ncx2(2, 2 * k)
    rician, _ = integrate.quad(
        lambda u: math.log2(1 + snr * u / (2 * (k + 1))) * dist.pdf(u),
        0,
        dist.isf(1e-14),
        limit=400,
        epsrel=1e-11,
    )
    assert rician_ergodic_capacity(snr_db, k) == pytest.approx(rician, rel=1e-5)


def test_capacity_is_read_from_the_channels_own_description():
    assert channel_capacity(Described(Fading.rician(4.0)), 10.0) == rician_ergodic_capacity(10.0, 4.0)
    assert channel_capacity(Described(Fading.none()), 10.0) == awgn_capacity(10.0)
    # OFDM over TDL describes itself by a Rayleigh stand-in: the bound stays on the safe side
    assert channel_capacity(CHANNELS.build("ofdm-tdl"), 10.0) == rayleigh_ergodic_capacity(10.0)
    with pytest.raises(NotImplementedError, match="does not describe its fading"):
        channel_capacity(Channel(), 10.0)

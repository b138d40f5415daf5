"""Fading descriptions: the one quadrature against exact moments and direct integrals, the laws' CDFs."""

import math

import numpy as np
import pytest
from scipy import integrate, special, stats

from mllmsc.channel import CHANNELS, Fading

K_FACTORS = [0.0, 0.5, 4.0, 20.0, 1e6]


def rician_pdf_integral(k_factor: float, f) -> float:
    """``E[f(|h|²)]`` for Rician ``K`` by adaptive quadrature over the noncentral-χ² density.

    Independent of the package's quadrature: scipy's pdf, scipy's adaptive ``quad`` with breakpoints
    across the bulk, tight tolerances.
    """
    scale = 2 * (k_factor + 1)
    dist = stats.chi2(2) if k_factor == 0 else stats.ncx2(2, 2 * k_factor)
    lo, hi = dist.ppf(1e-15), dist.isf(1e-15)
    points = np.linspace(lo, hi, 40)[1:-1].tolist()
    value, _ = integrate.quad(
        lambda u: f(u / scale) * dist.pdf(u), lo, hi, points=points, limit=2000, epsabs=0, epsrel=1e-11
    )
    return value


@pytest.mark.parametrize("k_factor", K_FACTORS)
def test_quadrature_has_unit_mass_and_unit_mean(k_factor):
    nodes, weights = Fading.rician(k_factor).quadrature()
    assert np.all(weights > 0) and np.all(nodes >= 0) and np.all(np.diff(nodes) > 0)
    assert weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert float(weights @ nodes) == pytest.approx(1.0, abs=1e-12)  # E|h|² = 1 exactly


@pytest.mark.parametrize("k_factor", K_FACTORS)
def test_quadrature_gets_the_fourth_moment(k_factor):
    # E|h|⁴ of Rician fading with E|h|² = 1: (K² + 4K + 2) / (K + 1)² (2 for Rayleigh, → 1 for AWGN).
    exact = (k_factor**2 + 4 * k_factor + 2) / (k_factor + 1) ** 2
    assert Fading.rician(k_factor).expectation(np.square) == pytest.approx(exact, rel=1e-5)


def test_no_fading_is_one_node_at_one():
    fading = Fading.none()
    assert fading.law == "none" and Fading.rician(math.inf) == fading
    nodes, weights = fading.quadrature()
    assert nodes.tolist() == [1.0] and weights.tolist() == [1.0]
    assert fading.expectation(lambda g: 3 * g) == 3.0
    assert fading.cdf(0.999) == 0.0 and fading.cdf(1.0) == 1.0


def test_expectation_takes_several_functions_at_once():
    fading = Fading.rician(4.0)
    both = fading.expectation(lambda g: np.stack([g, g**2], axis=1))
    assert both.shape == (2,)
    assert both[0] == pytest.approx(1.0) and both[1] == pytest.approx(fading.expectation(np.square))


@pytest.mark.parametrize("k_factor", [0.0, 4.0])
def test_cdf_is_the_law_of_the_gain(k_factor):
    fading = Fading.rician(k_factor)
    g = np.array([0.01, 0.3, 1.0, 3.0])
    if k_factor == 0:
        np.testing.assert_allclose(fading.cdf(g), 1 - np.exp(-g), rtol=1e-12)
    # P(|h|² <= x) = E[1{|h|² <= x}]: the CDF and the quadrature describe one law
    for x in g:
        assert fading.expectation(lambda u, x=x: (u <= x).astype(float)) == pytest.approx(
            fading.cdf(x), abs=5e-3
        )


@pytest.mark.parametrize("snr_db", [-10.0, 0.0, 10.0, 30.0])
def test_rayleigh_capacity_closed_form_against_a_direct_integral(snr_db):
    snr = 10 ** (snr_db / 10)
    direct, _ = integrate.quad(lambda g: math.log2(1 + snr * g) * math.exp(-g), 0, np.inf, epsrel=1e-12)
    fading = Fading.rayleigh()
    assert fading.ergodic_capacity(snr_db) == pytest.approx(direct, rel=1e-9)
    # the quadrature behind Rician agrees with the closed form where both apply
    assert fading.expectation(lambda g: np.log2(1 + snr * g)) == pytest.approx(direct, rel=1e-5)


@pytest.mark.parametrize("k_factor", [0.5, 4.0, 20.0])
@pytest.mark.parametrize("snr_db", [-5.0, 10.0, 30.0])
def test_rician_capacity_against_a_direct_integral(k_factor, snr_db):
    snr = 10 ** (snr_db / 10)
    direct = rician_pdf_integral(k_factor, lambda g: math.log2(1 + snr * g))
    assert Fading.rician(k_factor).ergodic_capacity(snr_db) == pytest.approx(direct, rel=1e-5)


@pytest.mark.parametrize(("k_factor", "snr_db"), [(4.0, 10.0), (20.0, 25.0), (20.0, 30.0), (1e6, 10.0)])
def test_rician_error_rate_quadrature_against_a_direct_integral(k_factor, snr_db):
    # Q(√(SNR g)) falls by orders of magnitude over the law: the deep-fade and narrow-bulk cells
    # must both be right (the former per-caller quad was 4 % off at K = 20, 30 dB).
    snr = 10 ** (snr_db / 10)

    def q(g):
        return 0.5 * special.erfc(np.sqrt(snr * g / 2))

    direct = rician_pdf_integral(k_factor, q)
    assert Fading.rician(k_factor).expectation(q) == pytest.approx(direct, rel=1e-3)


def test_every_registered_channel_class_describes_its_law():
    assert CHANNELS.build("awgn").fading == Fading.none()
    assert CHANNELS.build("rayleigh", coherence=8).fading == Fading.rayleigh(8)
    rician = CHANNELS.build("rician", k_factor=2.5).fading
    assert rician.law == "rician" and rician.k_factor == 2.5 and rician.coherence is None
    assert CHANNELS.build("rician", k_factor=0.0).fading.law == "rayleigh"
    assert CHANNELS.build("rician", k_factor=math.inf).fading.law == "none"
    ofdm = CHANNELS.build("ofdm-tdl").fading
    assert not ofdm.exact and ofdm.note and ofdm.law == "rayleigh" and ofdm.coherence == 1


@pytest.mark.parametrize("kwargs", [dict(k_factor=-1.0), dict(k_factor=math.nan), dict(coherence=0)])
def test_bad_descriptions_are_refused(kwargs):
    with pytest.raises(ValueError):
        Fading(**kwargs)

"""Uncoded BER theory: chosen by the channel's fading description, closed forms against quadrature."""

import math

import numpy as np
import pytest
from scipy import integrate, special

from mllmsc.channel import CHANNELS, Fading
from mllmsc.eval.uncoded import qpsk_ber, qpsk_ber_awgn, qpsk_ber_rayleigh, qpsk_ber_rician, theory_ber


@pytest.mark.parametrize("snr_db", [0.0, 10.0, 20.0])
def test_theory_follows_the_channels_description(snr_db):
    assert theory_ber(CHANNELS.build("awgn"), snr_db) == qpsk_ber_awgn(snr_db)
    assert theory_ber(CHANNELS.build("rayleigh", coherence=7), snr_db) == qpsk_ber_rayleigh(snr_db)
    assert theory_ber(CHANNELS.build("rician"), snr_db) == qpsk_ber_rician(snr_db, 4.0)  # default K
    assert theory_ber(CHANNELS.build("rician", k_factor=9.0), snr_db) == qpsk_ber_rician(snr_db, 9.0)
    assert theory_ber(CHANNELS.build("ofdm-tdl"), snr_db) is None  # a stand-in law is no theory
    assert theory_ber(Fading.rayleigh(), snr_db) == qpsk_ber_rayleigh(snr_db)


@pytest.mark.parametrize("snr_db", [-5.0, 5.0, 15.0, 30.0])
def test_rayleigh_closed_form_against_the_quadrature_and_a_direct_integral(snr_db):
    g = 10 ** (snr_db / 10) / 2
    closed = 0.5 * (1 - math.sqrt(g / (1 + g)))  # ½(1 − √(γ/(1+γ))), γ = Eb/N0 = SNR/2
    assert qpsk_ber_rayleigh(snr_db) == pytest.approx(closed, rel=1e-12)
    snr = 10 ** (snr_db / 10)

    def q(u):
        return 0.5 * math.erfc(math.sqrt(snr * u / 2))

    direct, _ = integrate.quad(lambda u: q(u) * math.exp(-u), 0, np.inf, epsabs=0, epsrel=1e-10, limit=200)
    assert closed == pytest.approx(direct, rel=1e-7)
    # the quadrature that Rician relies on reproduces it
    quadrature = Fading.rayleigh().expectation(lambda u: 0.5 * special.erfc(np.sqrt(snr * u / 2)))
    assert quadrature == pytest.approx(closed, rel=1e-5)


def test_rician_lies_between_rayleigh_and_awgn_and_meets_both_limits():
    for snr_db in (5.0, 15.0):
        assert qpsk_ber_rayleigh(snr_db) > qpsk_ber_rician(snr_db, 4.0) > qpsk_ber_awgn(snr_db)
        assert qpsk_ber_rician(snr_db, 0.0) == qpsk_ber_rayleigh(snr_db)
        assert qpsk_ber_rician(snr_db, math.inf) == qpsk_ber_awgn(snr_db)
        assert qpsk_ber(Fading.rician(1e6), snr_db) == pytest.approx(qpsk_ber_awgn(snr_db), rel=1e-3)

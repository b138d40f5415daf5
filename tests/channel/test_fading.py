import math

import pytest
import torch

from mllmsc.channel import CHANNELS
from mllmsc.eval.uncoded import measure_uncoded, qpsk_ber_rayleigh, qpsk_ber_rician


def test_rayleigh_h_has_unit_power_and_is_circular(gen, symbols):
    z = symbols(4, 50_000)
    h = CHANNELS.build("rayleigh", coherence=1)(z, 10.0, generator=gen).h
    assert h.shape == z.shape and h.dtype == torch.complex64
    assert h.abs().square().mean().item() == pytest.approx(1.0, rel=0.02)
    assert abs(h.mean().item()) < 0.01


@pytest.mark.parametrize("coherence", [None, 1, 64, 1000])
def test_coherence_blocks_hold_one_coefficient(coherence, gen, symbols):
    z = symbols(3, 4 * 250).reshape(3, 4, 250)  # 1000 symbols per item
    h = CHANNELS.build("rayleigh", coherence=coherence)(z, 10.0, generator=gen).h.reshape(3, -1)
    block = 1000 if coherence is None else coherence
    for start in range(0, 1000, block):
        chunk = h[:, start : start + block]
        assert torch.all(chunk == chunk[:, :1]), "h changed inside a coherence block"
    if block < 1000:  # consecutive blocks differ
        assert not torch.equal(h[:, 0], h[:, block])
    assert not torch.equal(h[0, 0], h[1, 0]), "items share a realisation"


def test_per_item_coherence_gives_unit_power_over_many_items(gen):
    z = torch.ones(20_000, 4, dtype=torch.complex64)
    h = CHANNELS.build("rayleigh")(z, 10.0, generator=gen).h
    assert h[:, 0].abs().square().mean().item() == pytest.approx(1.0, rel=0.03)


@pytest.mark.parametrize("snr_db", [0.0, 10.0, 20.0])
def test_qpsk_ber_matches_rayleigh_closed_form(snr_db, gen):
    channel = CHANNELS.build("rayleigh", coherence=1, csi="decoder")
    point = measure_uncoded(channel, snr_db, num_symbols=200_000, generator=gen)
    assert point.ber == pytest.approx(qpsk_ber_rayleigh(snr_db), rel=0.10)


def test_equalize_returns_mmse_estimate(gen, symbols):
    z = symbols(2, 10_000)
    raw = CHANNELS.build("rayleigh", coherence=1, csi="decoder")(
        z, 15.0, generator=torch.Generator().manual_seed(5)
    )
    eq = CHANNELS.build("rayleigh", coherence=1, csi="equalize")(
        z, 15.0, generator=torch.Generator().manual_seed(5)
    )
    assert eq.equalized and not raw.equalized
    torch.testing.assert_close(eq.h, raw.h)
    n0 = 10**-1.5
    expected = raw.h.conj() * raw.y / (raw.h.abs().square() + n0)
    torch.testing.assert_close(eq.y, expected)
    # MMSE beats the raw signal as an estimate of z
    assert (eq.y - z).abs().square().mean() < (raw.y - z).abs().square().mean()


def test_rician_unit_power_and_ber(gen, symbols):
    channel = CHANNELS.build("rician", k_factor=4.0, coherence=1, csi="decoder")
    z = symbols(2, 50_000)
    h = channel(z, 10.0, generator=gen).h
    assert h.abs().square().mean().item() == pytest.approx(1.0, rel=0.02)
    assert h.mean().real.item() == pytest.approx(math.sqrt(4 / 5), abs=0.02)  # LOS term
    point = measure_uncoded(channel, 5.0, num_symbols=200_000, generator=gen)
    assert point.ber == pytest.approx(qpsk_ber_rician(5.0, 4.0), rel=0.10)


def test_rician_tends_to_awgn_as_k_grows(gen, symbols):
    z = symbols(2, 100_000)
    out = CHANNELS.build("rician", k_factor=1e6, coherence=1, csi="decoder")(z, 10.0, generator=gen)
    assert (out.h - 1).abs().max().item() < 0.01
    noise_power = (out.y - z).abs().square().mean().item()
    assert noise_power == pytest.approx(0.1, rel=0.03)
    assert qpsk_ber_rician(6.0, 1e6) == pytest.approx(qpsk_ber_rician(6.0, float("inf")), rel=1e-3)


def test_rician_with_k_zero_is_rayleigh_in_theory():
    assert qpsk_ber_rician(10.0, 0.0) == pytest.approx(qpsk_ber_rayleigh(10.0), rel=1e-4)


@pytest.mark.parametrize("name", ["rayleigh", "rician"])
def test_same_seed_same_fading(name):
    channel = CHANNELS.build(name, coherence=16)
    z = torch.ones(2, 256, dtype=torch.complex64)
    a = channel(z, 3.0, generator=torch.Generator().manual_seed(1))
    b = channel(z, 3.0, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a.y, b.y) and torch.equal(a.h, b.h)


@pytest.mark.parametrize("kwargs", [dict(coherence=0), dict(csi="oracle")])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        CHANNELS.build("rayleigh", **kwargs)
    with pytest.raises(ValueError):
        CHANNELS.build("rician", k_factor=-1.0)

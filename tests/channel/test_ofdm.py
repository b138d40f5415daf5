import pytest
import torch

from mllmsc.channel import CHANNELS


@pytest.mark.parametrize("model", ["A", "C", "E"])
def test_perfect_csi_round_trip_at_40_db(model, gen, symbols):
    z = symbols(2, 3000).reshape(2, 3, 1000)
    out = CHANNELS.build("ofdm-tdl", model=model, speed=3.0)(z, 40.0, generator=gen)
    assert out.y.shape == z.shape and out.y.dtype == torch.complex64
    assert out.equalized
    mse = (out.y - z).abs().square().mean().item()
    assert mse < 2e-3, mse


def test_channel_is_frequency_selective_and_normalised(gen, symbols):
    z = symbols(64, 864)  # one slot per item
    h = CHANNELS.build("ofdm-tdl", model="C", delay_spread=300e-9)(z, 20.0, generator=gen).h
    assert h.abs().square().mean().item() == pytest.approx(1.0, rel=0.1)
    # a delay spread of 300 ns decorrelates subcarriers 72 × 30 kHz apart: h is not flat
    assert h[0].abs().std().item() > 0.05


def test_ls_estimation_is_close_at_high_snr_and_worse_than_perfect(gen, symbols):
    z = symbols(4, 2000)
    perfect = CHANNELS.build("ofdm-tdl", estimation="perfect")(
        z, 20.0, generator=torch.Generator().manual_seed(2)
    )
    ls = CHANNELS.build("ofdm-tdl", estimation="ls")(z, 20.0, generator=torch.Generator().manual_seed(2))
    err_perfect = (perfect.y - z).abs().square().mean().item()
    err_ls = (ls.y - z).abs().square().mean().item()
    assert err_perfect < err_ls < 0.2
    assert (ls.h - perfect.h).abs().square().mean().item() < 0.05


def test_decoder_csi_hands_over_raw_output(gen, symbols):
    z = symbols(2, 500)
    out = CHANNELS.build("ofdm-tdl", csi="decoder")(z, 40.0, generator=gen)
    assert not out.equalized
    torch.testing.assert_close(out.y, out.h * z, atol=0.05, rtol=0)


def test_same_seed_same_output():
    channel = CHANNELS.build("ofdm-tdl", model="B", speed=30.0, estimation="ls")
    z = torch.ones(2, 1000, dtype=torch.complex64)
    a = channel(z, 5.0, generator=torch.Generator().manual_seed(9)).y
    b = channel(z, 5.0, generator=torch.Generator().manual_seed(9)).y
    assert torch.equal(a, b)


def test_unknown_profile_is_refused():
    with pytest.raises(ValueError, match="TDL model"):
        CHANNELS.build("ofdm-tdl", model="Z")

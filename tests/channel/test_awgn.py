import math

import pytest
import torch

from mllmsc.channel import CHANNELS, noise_variance
from mllmsc.eval.uncoded import measure_uncoded, qpsk_ber_awgn


@pytest.mark.parametrize("snr_db", [0.0, 10.0, 20.0])
def test_empirical_snr_within_a_tenth_of_a_db(snr_db, gen, symbols):
    z = symbols(2, 100_000)
    out = CHANNELS.build("awgn")(z, snr_db, generator=gen)
    noise_power = (out.y - z).abs().square().mean().item()
    assert abs(10 * math.log10(1 / noise_power) - snr_db) < 0.1
    assert out.h is None
    torch.testing.assert_close(out.noise_var, torch.full((2,), 10 ** (-snr_db / 10)))


def test_noise_is_circular_with_half_variance_per_real_dimension(gen):
    z = torch.zeros(1, 200_000, dtype=torch.complex64)
    noise = CHANNELS.build("awgn")(z, 3.0, generator=gen).y
    var = 10 ** (-0.3)
    assert noise.real.var().item() == pytest.approx(var / 2, rel=0.02)
    assert noise.imag.var().item() == pytest.approx(var / 2, rel=0.02)
    assert abs((noise.real * noise.imag).mean().item()) < 0.01 * var


@pytest.mark.parametrize("snr_db", [0.0, 4.0, 8.0])
def test_qpsk_ber_matches_q_function(snr_db, gen):
    point = measure_uncoded(CHANNELS.build("awgn"), snr_db, num_symbols=200_000, generator=gen)
    assert point.ber == pytest.approx(qpsk_ber_awgn(snr_db), rel=0.10)


def test_per_item_snr_tensor(gen, symbols):
    z = symbols(3, 50_000)
    snr = torch.tensor([0.0, 10.0, 20.0])
    out = CHANNELS.build("awgn")(z, snr, generator=gen)
    measured = (out.y - z).abs().square().mean(dim=1)
    torch.testing.assert_close(measured, 10 ** (-snr / 10), rtol=0.03, atol=0)


def test_zero_dim_tensor_snr_and_shapes_kept(gen, symbols):
    z = symbols(2, 4 * 5 * 6).reshape(2, 4, 5, 6)
    out = CHANNELS.build("awgn")(z, torch.tensor(5.0), generator=gen)
    assert out.y.shape == z.shape and out.y.dtype == torch.complex64
    assert out.noise_var.shape == (2,)


def test_same_seed_same_output_and_default_generator_follows_manual_seed():
    channel = CHANNELS.build("awgn")
    z = torch.ones(2, 1000, dtype=torch.complex64)
    a = channel(z, 5.0, generator=torch.Generator().manual_seed(7)).y
    b = channel(z, 5.0, generator=torch.Generator().manual_seed(7)).y
    c = channel(z, 5.0, generator=torch.Generator().manual_seed(8)).y
    assert torch.equal(a, b) and not torch.equal(a, c)
    torch.manual_seed(3)
    d = channel(z, 5.0).y
    torch.manual_seed(3)
    assert torch.equal(d, channel(z, 5.0).y)


@pytest.mark.parametrize(
    "z, snr",
    [
        (torch.ones(2, 8), 5.0),  # real input
        (torch.ones(8, dtype=torch.complex64), 5.0),  # no batch axis
        (torch.ones(2, 8, dtype=torch.complex128), 5.0),  # double precision
        (torch.ones(2, 8, dtype=torch.complex64), float("nan")),
        (torch.ones(2, 8, dtype=torch.complex64), torch.tensor([1.0, 2.0, 3.0])),  # wrong batch
    ],
)
def test_bad_input_is_refused(z, snr):
    with pytest.raises((TypeError, ValueError)):
        CHANNELS.build("awgn")(z, snr)


def test_noise_variance_closed_form():
    torch.testing.assert_close(noise_variance(10.0, 2, torch.device("cpu")), torch.tensor([0.1, 0.1]))
    torch.testing.assert_close(
        noise_variance(torch.tensor([0.0, -3.0]), 2, torch.device("cpu")),
        torch.tensor([1.0, 10**0.3]),
    )


@pytest.mark.parametrize("noise_var", [torch.tensor(0.3), torch.tensor([0.1, 2.0])])
def test_noise_is_sionnas_awgn_draw_for_draw(noise_var):
    """add_awgn is drawn by hand only to spare the Sionna import; it must stay Sionna's AWGN."""
    import sionna.phy.channel as sch

    from mllmsc.channel.awgn import add_awgn
    from mllmsc.channel.base import SeededBlock

    class SeededAWGN(SeededBlock, sch.AWGN):
        pass

    x = torch.randn(2, 3, 50, dtype=torch.complex64)
    block = SeededAWGN(device="cpu")
    with block.drawing_from(torch.Generator().manual_seed(11)):
        expected = block(x, noise_var)
    assert torch.equal(add_awgn(x, noise_var, torch.Generator().manual_seed(11)), expected)


def test_awgn_channel_does_not_import_sionna():
    import subprocess
    import sys

    code = (
        "import sys, torch; from mllmsc.channel import CHANNELS;"
        "CHANNELS.build('awgn')(torch.ones(1, 4, dtype=torch.complex64), 3.0);"
        "print('sionna' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

import pytest
import torch

from mllmsc.channel import power_normalize


def test_power_is_exactly_one_per_item(gen):
    z = 3.7 * torch.randn(4, 7, 9, dtype=torch.complex64, generator=gen)
    out = power_normalize(z)
    power = out.abs().square().mean(dim=(1, 2))
    torch.testing.assert_close(power, torch.ones(4), rtol=1e-6, atol=0)
    # a positive real scaling per item: the ratio out / z is one constant per item
    ratio = out / z
    torch.testing.assert_close(ratio, ratio[:, :1, :1].expand_as(ratio), rtol=1e-5, atol=1e-6)
    assert torch.all(ratio.imag.abs() < 1e-5) and torch.all(ratio.real > 0)


def test_mask_counts_only_sent_symbols_and_zeroes_the_rest(gen):
    z = torch.randn(2, 100, dtype=torch.complex64, generator=gen)
    mask = torch.zeros(2, 100, dtype=torch.bool)
    mask[0, :10] = True
    mask[1, 50:] = True
    out = power_normalize(z, mask)
    assert torch.all(out[~mask] == 0)
    for i in range(2):
        assert out[i][mask[i]].abs().square().mean().item() == pytest.approx(1.0, rel=1e-6)


def test_item_with_nothing_sent_is_an_error():
    with pytest.raises(ValueError):
        power_normalize(torch.ones(2, 4, dtype=torch.complex64), torch.tensor([[True] * 4, [False] * 4]))


def test_real_input_is_refused():
    with pytest.raises(TypeError):
        power_normalize(torch.ones(2, 4))

"""Deep JSCC (the field's CNN baseline) on a tiny config: shapes, power, rate, save/load, learning."""

import pytest
import torch

from mllmsc.channel import CHANNELS
from mllmsc.codec import allocate_uniform, allocator_for, sent_mask, symbol_budget
from mllmsc.codec.deep_jscc import DeepJSCC, DeepJSCCConfig
from mllmsc.config import ConfigError
from mllmsc.methods import METHODS
from mllmsc.pretrained import WeightsError
from mllmsc.types import ChannelOutput

TINY = DeepJSCCConfig(width=6, kernel=3, k_max=6, attention_hidden=4)


@pytest.fixture
def model() -> DeepJSCC:
    torch.manual_seed(0)
    return DeepJSCC(TINY)


def test_shapes_for_non_multiple_sizes(model, one_thread):
    x = torch.rand(2, 3, 13, 22)
    k = allocate_uniform(2, 13, 22, 100, cell=4, k_max=6).k
    assert k.shape == (2, 1, 4, 6) and model.grid(13, 22) == (4, 6)
    z, mask, gain = model.encode(x, k, torch.tensor([0.0, 20.0]))
    assert z.shape == (2, 6, 4, 6) and z.dtype == torch.complex64 and mask.shape == z.shape
    assert torch.equal(gain, torch.ones(2))  # nothing for the receiver to undo: no header
    out = model(x, k, 10.0, CHANNELS.build("awgn"), generator=torch.Generator().manual_seed(0))
    assert out.x_hat.shape == x.shape
    assert out.x_hat.min() >= 0 and out.x_hat.max() <= 1  # sigmoid output


def test_a_cell_sends_its_first_k_symbols_at_unit_power(model, one_thread):
    x = torch.rand(3, 3, 16, 16)
    k = torch.randint(0, 7, (3, 1, 4, 4), generator=torch.Generator().manual_seed(1))
    k[:, :, 0, 0] = 1
    z, mask, _ = model.encode(x, k, 5.0)
    assert torch.equal(mask, sent_mask(k, 6))
    assert torch.equal(mask.sum(dim=(1, 2, 3)), k.sum(dim=(1, 2, 3)))
    assert (z[~mask] == 0).all()
    power = z.abs().square().sum(dim=(1, 2, 3)) / mask.sum(dim=(1, 2, 3))
    assert torch.allclose(power, torch.ones(3), atol=1e-5)


def test_the_decoder_ignores_what_was_not_sent(model, one_thread):
    k = torch.full((1, 1, 2, 2), 2)
    y = torch.randn(1, 6, 2, 2, dtype=torch.complex64)
    y2 = y.clone()
    y2[:, 2:] = 100.0
    with torch.inference_mode():
        assert torch.equal(model.decode(y, k, 10.0), model.decode(y2, k, 10.0))


def test_the_snr_and_the_rate_reach_every_stage(model, one_thread):
    """ADJSCC's attention: the same symbols decode differently at another SNR or another rate."""
    k = torch.full((1, 1, 2, 2), 3)
    y = torch.randn(1, 6, 2, 2, dtype=torch.complex64)
    with torch.inference_mode():
        base = model.decode(y, k, 10.0)
        assert not torch.equal(base, model.decode(y, k, 0.0))
        more = k.clone()
        more[..., 0, 0] = 4  # one more symbol sent, its value zero: only the rate context differs
        y_more = y.clone()
        y_more[:, 3, 0, 0] = 0
        assert not torch.equal(base, model.decode(y_more, more, 10.0))


def test_bad_inputs(model):
    x = torch.rand(1, 3, 16, 16)
    with pytest.raises(ValueError, match="k must have shape"):
        model.encode(x, torch.ones(1, 1, 3, 3, dtype=torch.long), 10.0)
    with pytest.raises(ValueError, match="k must lie"):
        model.encode(x, torch.full((1, 1, 4, 4), 7), 10.0)
    with pytest.raises(ValueError, match="csi='equalize'"):
        h = torch.ones(1, 1, 1, 1, dtype=torch.complex64)
        model.receive(ChannelOutput(torch.zeros(1, 6, 4, 4, dtype=torch.complex64), h, torch.ones(1)),
                      torch.ones(1, 1, 4, 4, dtype=torch.long), 10.0)  # fmt: skip
    with pytest.raises(ConfigError, match="k_max"):
        DeepJSCCConfig(k_max=25)  # a 4×4 RGB cell has 48 reals: 24 complex symbols at most
    with pytest.raises(ConfigError, match="kernel"):
        DeepJSCCConfig(kernel=4)


def test_save_load_round_trip(model, tmp_path, one_thread):
    model.save_pretrained(tmp_path / "m")
    again = DeepJSCC.from_pretrained(tmp_path / "m").eval()
    model.eval()
    x = torch.rand(1, 3, 16, 20)
    k = allocate_uniform(1, 16, 20, 40, cell=4, k_max=6).k
    channel = CHANNELS.build("awgn")
    with torch.inference_mode():
        a = model(x, k, 7.0, channel, generator=torch.Generator().manual_seed(3)).x_hat
        b = again(x, k, 7.0, channel, generator=torch.Generator().manual_seed(3)).x_hat
    assert torch.equal(a, b)
    assert again.config == TINY
    from mllmsc.codec import IAJSCC

    with pytest.raises(WeightsError, match="not 'ia-jscc'"):
        IAJSCC.from_pretrained(tmp_path / "m")


def test_the_uniform_allocator_fills_the_budget_with_no_header(model):
    allocator = allocator_for(model, "uniform")
    budget = symbol_budget(1 / 16, 64, 96)
    allocation = allocator.allocate(torch.ones(1, 1, 64, 96), budget)
    assert int(allocation.k.sum()) == budget and int(allocation.side_info[0]) == 0
    assert tuple(allocation.k.shape[-2:]) == (16, 24)


def test_a_tiny_model_learns_one_image(one_thread):
    torch.manual_seed(0)
    model = DeepJSCC(DeepJSCCConfig(width=12, kernel=3, k_max=6, attention_hidden=8))
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 32), indexing="ij")
    x = torch.stack([xx, yy, (xx - yy).abs()])[None]
    k = torch.full((1, 1, 8, 8), 6)
    channel = CHANNELS.build("awgn")

    def psnr() -> float:
        with torch.inference_mode():
            out = model(x, k, 20.0, channel, generator=torch.Generator().manual_seed(0))
        return float(-10 * torch.log10((out.x_hat - x).square().mean()))

    before = psnr()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(1)
    for _ in range(60):
        loss = (model(x, k, 20.0, channel, generator=g).x_hat - x).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert psnr() > before + 5


def test_the_method_runs_a_saved_model_through_the_registry(model, tmp_path, one_thread):
    model.save_pretrained(tmp_path / "m")
    method = METHODS.build("deep-jscc", weights=tmp_path / "m")
    x = torch.rand(1, 3, 32, 48)
    result = method(x, None, CHANNELS.build("awgn"), 10.0, 1 / 16, generator=torch.Generator().manual_seed(0))
    assert result.method == "deep-jscc" and result.x_hat.shape == x.shape
    assert int(result.symbols.total[0]) == symbol_budget(1 / 16, 32, 48)  # the whole budget, no side info
    assert int(result.symbols.side_info[0]) == 0

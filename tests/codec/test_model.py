"""IA-JSCC model contracts on a tiny config (2 stages of 4 channels: 4-pixel cells, k_max 8)."""

import json

import pytest
import torch

from mllmsc.channel import CHANNELS
from mllmsc.codec import CODECS, IAJSCC, IAJSCCConfig, allocate, allocate_uniform, sent_mask
from mllmsc.codec.layers import GDN
from mllmsc.config import ConfigError


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: on a shared 2-core machine two threads can be many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


TINY = IAJSCCConfig(channels=(4, 4), k_max=8, res_blocks=1, hf_blocks=1, film_hidden=4)


@pytest.fixture
def model() -> IAJSCC:
    torch.manual_seed(0)
    return IAJSCC(TINY)


def _image(h: int, w: int, seed: int = 0) -> torch.Tensor:
    """A smooth synthetic photo: gradients, a disc and a bar (no data files)."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    r, gg, b = torch.rand(3, generator=g)
    disc = ((yy - 0.4) ** 2 + (xx - 0.6) ** 2 < 0.06).float()
    img = torch.stack([r * xx + 0.3 * disc, gg * yy + 0.2 * (xx > 0.7), b * (1 - xx * yy) + 0.4 * disc])
    return img.clamp(0, 1)[None]


def test_registry_and_cell(model):
    assert "ia-jscc" in CODECS.available()
    assert model.cell == 4 and IAJSCCConfig().cell == 16


def test_shapes_for_non_multiple_sizes(model):
    x = torch.rand(2, 3, 13, 22)
    alloc = allocate_uniform(2, 13, 22, 100, cell=4, k_max=8)
    assert alloc.k.shape == (2, 1, 4, 6)
    z, mask = model.encode(x, alloc.k, torch.tensor([0.0, 20.0]))
    assert z.shape == (2, 8, 4, 6) and z.dtype == torch.complex64 and mask.shape == z.shape
    out = model(x, alloc.k, 10.0, CHANNELS.build("awgn"), generator=torch.Generator().manual_seed(0))
    assert out.x_hat.shape == x.shape
    model.eval()  # the image is clamped to [0, 1] in eval mode (training keeps the gradient)
    out = model(x, alloc.k, 10.0, CHANNELS.build("awgn"), generator=torch.Generator().manual_seed(0))
    assert out.x_hat.min() >= 0 and out.x_hat.max() <= 1


def test_unsent_symbols_are_zero_and_sent_power_is_one(model):
    x = torch.rand(3, 3, 16, 16)
    k = torch.randint(0, 9, (3, 1, 4, 4), generator=torch.Generator().manual_seed(1))
    k[:, :, 0, 0] = 1
    z, mask = model.encode(x, k, 5.0)
    assert torch.equal(mask, sent_mask(k, 8))
    assert torch.equal(mask.sum(dim=(1, 2, 3)), k.sum(dim=(1, 2, 3)))
    assert (z[~mask] == 0).all()
    power = (z.abs() ** 2).sum(dim=(1, 2, 3)) / mask.sum(dim=(1, 2, 3))
    assert torch.allclose(power, torch.ones(3), atol=1e-5)
    # The first k symbols of each cell are the ones sent.
    assert mask[:, 0].equal(k[:, 0] > 0)


def test_decoder_ignores_unsent_symbols(model):
    k = torch.full((1, 1, 2, 2), 3)
    y = torch.randn(1, 8, 2, 2, dtype=torch.complex64)
    y2 = y.clone()
    y2[:, 3:] = 100.0  # whatever arrives where nothing was sent
    with torch.inference_mode():
        assert torch.equal(model.decode(y, k, 10.0), model.decode(y2, k, 10.0))


def test_bad_inputs(model):
    x = torch.rand(1, 3, 16, 16)
    with pytest.raises(ValueError, match="k must have shape"):
        model.encode(x, torch.ones(1, 1, 3, 3, dtype=torch.long), 10.0)
    with pytest.raises(ValueError, match="k must lie"):
        model.encode(x, torch.full((1, 1, 4, 4), 9), 10.0)
    with pytest.raises(ValueError, match="no CSI input"):
        model.decode(
            torch.zeros(1, 8, 4, 4, dtype=torch.complex64),
            torch.ones(1, 1, 4, 4, dtype=torch.long),
            10.0,
            h=torch.ones(1, 1, 1, 1, dtype=torch.complex64),
        )
    with pytest.raises(ValueError, match="intent"):
        model.encode(x, torch.ones(1, 1, 4, 4, dtype=torch.long), 10.0, intent=torch.zeros(1, 3))


def test_csi_and_intent_hooks():
    torch.manual_seed(0)
    m = IAJSCC(
        IAJSCCConfig(channels=(4, 4), k_max=8, res_blocks=0, hf_blocks=0, csi_input=True, intent_dim=3)
    )
    x = torch.rand(1, 3, 8, 8)
    k = torch.full((1, 1, 2, 2), 4)
    z, _ = m.encode(x, k, 10.0, intent=torch.zeros(1, 3))
    x_hat = m.decode(z, k, 10.0, h=torch.ones(1, 1, 1, 1, dtype=torch.complex64))
    assert x_hat.shape == x.shape
    with pytest.raises(ValueError, match="needs the channel"):
        m.decode(z, k, 10.0)


def test_gdn_parameters_stay_positive():
    gdn = GDN(3)
    with torch.no_grad():
        gdn.beta_raw.fill_(-50.0)
        gdn.gamma_raw.fill_(-50.0)
    y = gdn(torch.randn(2, 3, 4, 4))
    assert torch.isfinite(y).all()
    inverse = GDN(3, inverse=True)
    assert torch.isfinite(inverse(torch.randn(2, 3, 4, 4))).all()


def test_save_load_round_trip(model, tmp_path):
    x = torch.rand(1, 3, 12, 12)
    m = torch.rand(1, 1, 12, 12)
    alloc = allocate(m, 50, cell=4, k_max=8)
    y = torch.randn(1, 8, 3, 3, dtype=torch.complex64)
    model.eval()
    model.save_pretrained(tmp_path / "w")
    loaded = IAJSCC.from_pretrained(tmp_path / "w").eval()
    assert loaded.config == model.config
    assert json.loads((tmp_path / "w" / "config.json").read_text())["model"] == "ia-jscc"
    with torch.inference_mode():
        za, _ = model.encode(x, alloc.k, 7.0, importance=m)
        zb, _ = loaded.encode(x, alloc.k, 7.0, importance=m)
        assert torch.equal(za, zb)
        assert torch.equal(model.decode(y, alloc.k, 7.0), loaded.decode(y, alloc.k, 7.0))
    # fp16 storage loads back as fp32 and stays close.
    model.save_pretrained(tmp_path / "h", dtype=torch.float16)
    half = IAJSCC.from_pretrained(tmp_path / "h").eval()
    assert next(half.parameters()).dtype == torch.float32
    with torch.inference_mode():
        assert torch.allclose(model.decode(y, alloc.k, 7.0), half.decode(y, alloc.k, 7.0), atol=1e-2)


def test_from_pretrained_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        IAJSCC.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text('{"model": "ia-jscc", "k_max": 8, "bogus": 1}')
    with pytest.raises(ConfigError, match="bogus"):
        IAJSCC.from_pretrained(tmp_path)


def test_tiny_model_overfits_one_image():
    torch.manual_seed(0)
    model = IAJSCC(IAJSCCConfig(channels=(8, 8), k_max=8, res_blocks=1, hf_blocks=1, film_hidden=8))
    x = _image(32, 32)
    k = torch.full((1, 1, 8, 8), 8)
    channel = CHANNELS.build("awgn")
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)

    def psnr(seed: int) -> float:
        with torch.inference_mode():
            out = model(x, k, 20.0, channel, generator=torch.Generator().manual_seed(seed))
        return float(-10 * torch.log10((out.x_hat - x).square().mean()))

    before = psnr(0)
    g = torch.Generator().manual_seed(1)
    for _ in range(40):
        out = model(x, k, 20.0, channel, generator=g)
        loss = (out.x_hat - x).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = psnr(0)
    assert after > before + 5, (before, after)


def test_sixteen_pixel_cells_pad_and_crop():
    torch.manual_seed(0)
    model = IAJSCC(IAJSCCConfig(channels=(2, 2, 2, 2), k_max=4, res_blocks=0, hf_blocks=0, film_hidden=2))
    assert model.cell == 16
    x = torch.rand(1, 3, 37, 50)
    m = torch.rand(1, 1, 37, 50)
    alloc = allocate(m, 40, cell=16, k_max=4)
    assert alloc.k.shape == (1, 1, 3, 4)
    out = model(x, alloc.k, 3.0, CHANNELS.build("awgn"), importance=m)
    assert out.x_hat.shape == (1, 3, 37, 50)
    assert int(out.mask.sum()) == int(alloc.payload[0])


def test_bad_weights_are_user_errors(model, tmp_path):
    from mllmsc.codec import InvalidWeightsError, WeightsNotFoundError
    from mllmsc.errors import UserError

    with pytest.raises(WeightsNotFoundError):
        IAJSCC.from_pretrained(tmp_path / "nowhere")
    model.save_pretrained(tmp_path / "w")
    (tmp_path / "w" / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(InvalidWeightsError) as info:
        IAJSCC.from_pretrained(tmp_path / "w")
    assert isinstance(info.value, UserError)
    model.save_pretrained(tmp_path / "v")
    cfg = json.loads((tmp_path / "v" / "config.json").read_text())
    (tmp_path / "v" / "config.json").write_text(json.dumps({**cfg, "k_max": 4}))
    with pytest.raises(InvalidWeightsError, match="does not fit"):
        IAJSCC.from_pretrained(tmp_path / "v")

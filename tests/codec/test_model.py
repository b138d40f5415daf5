"""IA-JSCC model contracts on a tiny config (2 stages of 4 channels: 4-pixel cells, k_max 8)."""

import json

import pytest
import torch

from mllmsc.channel import CHANNELS
from mllmsc.codec import IAJSCC, IAJSCCConfig, allocate, allocate_uniform, sent_mask
from mllmsc.codec.layers import GDN
from mllmsc.codec.model import dequantize_gain, quantize_gain
from mllmsc.config import ConfigError
from mllmsc.errors import UserError
from mllmsc.pretrained import WeightsError
from mllmsc.types import ChannelOutput


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


def test_cell_side(model):
    assert model.cell == 4 and IAJSCCConfig().cell == 16


def test_shapes_for_non_multiple_sizes(model):
    x = torch.rand(2, 3, 13, 22)
    alloc = allocate_uniform(2, 13, 22, 100, cell=4, k_max=8)
    assert alloc.k.shape == (2, 1, 4, 6)
    z, mask, gain = model.encode(x, alloc.k, torch.tensor([0.0, 20.0]))
    assert z.shape == (2, 8, 4, 6) and z.dtype == torch.complex64 and mask.shape == z.shape
    assert gain.shape == (2,) and (gain > 0).all()
    out = model(x, alloc.k, 10.0, CHANNELS.build("awgn"), generator=torch.Generator().manual_seed(0))
    assert out.x_hat.shape == x.shape
    model.eval()  # the image is clamped to [0, 1] in eval mode (training keeps the gradient)
    out = model(x, alloc.k, 10.0, CHANNELS.build("awgn"), generator=torch.Generator().manual_seed(0))
    assert out.x_hat.min() >= 0 and out.x_hat.max() <= 1


def test_unsent_symbols_are_zero_and_sent_power_is_one(model):
    x = torch.rand(3, 3, 16, 16)
    k = torch.randint(0, 9, (3, 1, 4, 4), generator=torch.Generator().manual_seed(1))
    k[:, :, 0, 0] = 1
    z, mask, _ = model.encode(x, k, 5.0)
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
        gain = torch.ones(1)
        assert torch.equal(model.decode(y, k, 10.0, gain=gain), model.decode(y2, k, 10.0, gain=gain))


def test_bad_inputs(model):
    x = torch.rand(1, 3, 16, 16)
    with pytest.raises(ValueError, match="k must have shape"):
        model.encode(x, torch.ones(1, 1, 3, 3, dtype=torch.long), 10.0)
    with pytest.raises(ValueError, match="k must lie"):
        model.encode(x, torch.full((1, 1, 4, 4), 9), 10.0)


def test_receive_takes_equalised_symbols_and_refuses_raw_csi(model):
    """The receiver equalises (csi="equalize"); raw ``y`` with ``h`` is a clear error, not a wrong image."""
    model.eval()
    k = torch.full((1, 1, 2, 2), 4)
    z, _, gain = model.encode(torch.rand(1, 3, 8, 8), k, 10.0)
    h = torch.full((1, 1, 1, 1), 0.5 + 0.5j, dtype=torch.complex64)
    noise = torch.full((1,), 0.1)
    with torch.inference_mode():
        plain = model.receive(ChannelOutput(z, None, noise), k, 10.0, gain=gain)
        equalised = model.receive(ChannelOutput(z, h, noise, equalized=True), k, 10.0, gain=gain)
        assert plain.shape == equalised.shape == (1, 3, 8, 8)
        assert not torch.equal(plain, equalised)  # the equaliser's coefficients are used
        with pytest.raises(ValueError, match="csi='equalize'"):
            model.receive(ChannelOutput(z * h, h, noise, equalized=False), k, 10.0, gain=gain)


def test_the_retired_config_hooks_are_unknown_keys(tmp_path, model):
    for key, value in (("csi_input", True), ("intent_dim", 3)):
        with pytest.raises(TypeError, match=key):
            IAJSCCConfig(**{key: value})
        model.save_pretrained(tmp_path / key)
        config = json.loads((tmp_path / key / "config.json").read_text())
        (tmp_path / key / "config.json").write_text(json.dumps({**config, key: value}))
        with pytest.raises(WeightsError, match=f"unknown key '{key}'"):
            IAJSCC.from_pretrained(tmp_path / key)


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
    gain = torch.ones(1)
    with torch.inference_mode():
        za, _, ga = model.encode(x, alloc.k, 7.0, importance=m)
        zb, _, gb = loaded.encode(x, alloc.k, 7.0, importance=m)
        assert torch.equal(za, zb) and torch.equal(ga, gb)
        assert torch.equal(
            model.decode(y, alloc.k, 7.0, gain=gain), loaded.decode(y, alloc.k, 7.0, gain=gain)
        )
    # fp16 storage loads back as fp32 and stays close.
    model.save_pretrained(tmp_path / "h", dtype=torch.float16)
    half = IAJSCC.from_pretrained(tmp_path / "h").eval()
    assert next(half.parameters()).dtype == torch.float32
    with torch.inference_mode():
        assert torch.allclose(
            model.decode(y, alloc.k, 7.0, gain=gain), half.decode(y, alloc.k, 7.0, gain=gain), atol=1e-2
        )


def test_from_pretrained_errors(tmp_path):
    with pytest.raises(WeightsError, match="no config.json"):
        IAJSCC.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text('{"model": "ia-jscc", "k_max": 8, "bogus": 1}')
    with pytest.raises(WeightsError, match="bogus"):
        IAJSCC.from_pretrained(tmp_path)


def test_tiny_model_overfits_one_image():
    torch.manual_seed(0)
    model = IAJSCC(IAJSCCConfig(channels=(8, 8), k_max=8, res_blocks=1, hf_blocks=1, film_hidden=8))
    x = _image(32, 32)
    k = torch.full((1, 1, 8, 8), 8)
    channel = CHANNELS.build("awgn")
    # As the trainer does: the near-optimal linear code moves slowly, the residuals learn fast.
    linear = [p for n, p in model.named_parameters() if n.startswith("transform.")]
    neural = [p for n, p in model.named_parameters() if not n.startswith("transform.")]
    opt = torch.optim.Adam([{"params": neural}, {"params": linear, "lr": 1e-4}], lr=2e-3)

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
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
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
    assert int(out.mask.sum()) == int(alloc.k.sum())


def test_bad_weights_are_user_errors(model, tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        IAJSCC.from_pretrained(tmp_path / "nowhere")
    model.save_pretrained(tmp_path / "w")
    (tmp_path / "w" / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(UserError, match="not a readable safetensors file"):
        IAJSCC.from_pretrained(tmp_path / "w")
    model.save_pretrained(tmp_path / "v")
    cfg = json.loads((tmp_path / "v" / "config.json").read_text())
    (tmp_path / "v" / "config.json").write_text(json.dumps({**cfg, "k_max": 4}))
    with pytest.raises(WeightsError, match="does not fit"):
        IAJSCC.from_pretrained(tmp_path / "v")


# ---- the linear code under the neural residuals ----

FULL = IAJSCCConfig(channels=(4, 4), k_max=24, res_blocks=1, hf_blocks=0, film_hidden=4, refine_width=4)


def _patches(image: torch.Tensor, cell: int) -> torch.Tensor:
    """Every ``cell × cell`` patch of ``[1, 3, H, W]`` → ``[N, 3, cell, cell]``."""
    p = image.unfold(2, cell, 1).unfold(3, cell, 1)  # [1, 3, h, w, cell, cell], stride 1
    return p.permute(0, 2, 3, 1, 4, 5).reshape(-1, 3, cell, cell)


@pytest.mark.parametrize("fitted", [False, True])
def test_a_new_model_is_lossless_with_every_component_at_high_snr(fitted):
    """Zero-initialised residuals leave an orthonormal linear code: all 3·cell² components at 80 dB
    give the image back (DCT start and fitted KLT alike)."""
    torch.manual_seed(0)
    model = IAJSCC(FULL)
    x = _image(16, 24, seed=3)
    if fitted:
        model.fit_transform(_patches(x, 4))
    basis = model.transform.analysis.flatten(1)
    assert torch.allclose(basis @ basis.T, torch.eye(48), atol=1e-5)  # orthonormal
    k = torch.full((1, 1, 4, 6), 24)
    model.eval()
    with torch.inference_mode():
        out = model(x, k, 80.0, CHANNELS.build("awgn"), generator=torch.Generator().manual_seed(0))
    assert (out.x_hat - x).abs().max() < 2e-3


def test_klt_orders_components_by_variance_so_more_symbols_give_less_error():
    """The fitted components carry decreasing variance, and the error falls with every symbol
    added: the rate adaptation the old CNN codec never learned (flat PSNR from CBR 1/48 to 1/8)."""
    torch.manual_seed(0)
    model = IAJSCC(FULL)
    x = _image(32, 32, seed=5)
    model.fit_transform(_patches(x, 4))
    var = model.transform.log_var.exp()
    assert (var[1:] <= var[:-1] + 1e-6).all()
    model.eval()
    errors = []
    for k in (2, 6, 12, 24):
        with torch.inference_mode():
            out = model(
                x, torch.full((1, 1, 8, 8), k), 40.0, CHANNELS.build("awgn"),
                generator=torch.Generator().manual_seed(0),
            )  # fmt: skip
        errors.append(float((out.x_hat - x).square().mean()))
    assert all(b < a for a, b in zip(errors, errors[1:], strict=False)), errors


def test_lmmse_decoder_beats_plain_inversion_at_low_snr():
    """At 0 dB the per-component LMMSE weights (shrinking the noisy weak components) give a lower
    error than inverting the gain alone, as estimation theory says they must on average."""
    torch.manual_seed(0)
    model = IAJSCC(FULL)
    x = _image(32, 32, seed=6)
    model.fit_transform(_patches(x, 4))
    model.eval()
    k = torch.full((1, 1, 8, 8), 12)
    channel = CHANNELS.build("awgn")
    lmmse, plain = [], []
    with torch.inference_mode():
        for seed in range(8):
            z, mask, gain = model.encode(x, k, 0.0)
            y = channel(z, 0.0, generator=torch.Generator().manual_seed(seed)).y
            lmmse.append(float((model.decode(y, k, 0.0, gain=gain) - x).square().mean()))
            # 80 dB in the decoder's weights: plain gain inversion of the same noisy symbols.
            plain.append(float((model.decode(y, k, 80.0, gain=gain) - x).square().mean()))
    assert sum(lmmse) < sum(plain)


def test_gain_header_round_trip_error_is_below_half_a_step():
    gain = torch.exp2(torch.linspace(-10, 10, 101))
    for bits in (8, 12):
        back = dequantize_gain(quantize_gain(gain, bits), bits)
        half_step = 2 ** (32 / 2**bits / 2) - 1
        assert ((back / gain - 1).abs() <= half_step + 1e-6).all()
        assert quantize_gain(gain, bits).max() < 2**bits
    assert IAJSCC(TINY).header_symbols == 18  # 12 bits at QPSK rate 1/3


def test_k_max_cannot_exceed_the_cell_components():
    with pytest.raises(ConfigError, match="k_max"):
        IAJSCCConfig(channels=(4, 4), k_max=25)


def test_cell_energy_follows_its_symbols():
    """Prior energy of a cell's first k symbols, times the cell scale squared, is k."""
    torch.manual_seed(0)
    model = IAJSCC(FULL)
    model.fit_transform(_patches(_image(32, 32, seed=2), 4))
    t = model.transform
    k = torch.tensor([0, 1, 5, 24]).view(1, 1, 1, 4)
    with torch.no_grad():
        energy = (2 * t.log_gain + t.log_var).exp().view(-1, 2).sum(1)
        scale = t.cell_scale(k)[0, 0, 0]
    for i, kk in enumerate(k.flatten().tolist()):
        assert float(scale[i] ** 2 * energy[:kk].sum()) == pytest.approx(kk, rel=1e-5)


def test_a_cell_given_more_symbols_gets_proportionally_more_energy():
    """Power follows the symbols: on a real photo (the distribution the KLT was fitted to), cells
    with 4× the symbols carry about 4× the energy after the per-image normalisation, so an ROI
    gains SNR as well as components (with one gain per image it gained only 0.5 dB at 10 dB)."""
    from skimage import data

    torch.manual_seed(0)
    model = IAJSCC(FULL).eval()
    x = torch.from_numpy(data.astronaut()[::4, ::4].copy()).permute(2, 0, 1).float()[None] / 255  # 128²
    model.fit_transform(_patches(x, 4)[::7])
    k = torch.full((1, 1, 32, 32), 3)
    k[..., :, :16] = 12  # the left half: 4× the symbols
    with torch.inference_mode():
        z, mask, _ = model.encode(x, k, 10.0)
    energy = z.abs().square().sum(1)[0]  # per cell
    ratio = float(energy[:, :16].mean() / energy[:, 16:].mean())
    assert 3.0 < ratio < 5.3, ratio


def test_decoder_that_knows_the_equalised_fade_does_better_on_block_fading():
    """One Rayleigh fade per image, MMSE-equalised at the receiver: undoing the equaliser's shrinkage
    and weighting by the fade's own SNR beats trusting the average SNR, summed over fades."""
    torch.manual_seed(0)
    model = IAJSCC(FULL).eval()
    x = _image(32, 32, seed=7)
    model.fit_transform(_patches(x, 4))
    k = torch.full((1, 1, 8, 8), 8)
    channel = CHANNELS.build("rayleigh", csi="equalize")
    informed, blind = 0.0, 0.0
    with torch.inference_mode():
        z, _, gain = model.encode(x, k, 4.0)
        for seed in range(16):
            out = channel(z, 4.0, generator=torch.Generator().manual_seed(seed))
            assert out.equalized
            with_h = model.decode(out.y, k, 4.0, gain=gain, equalized_h=out.h)
            informed += float((with_h - x).square().mean())
            blind += float((model.decode(out.y, k, 4.0, gain=gain) - x).square().mean())
    assert informed < blind

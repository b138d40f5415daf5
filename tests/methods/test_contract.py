"""Contract tests run over every registered transmission method (a new method gets them for free)."""

import pytest
import torch

from mllmsc.channel import CHANNELS
from mllmsc.errors import UserError
from mllmsc.guidance import GUIDANCE
from mllmsc.methods import METHODS
from mllmsc.methods.base import Shared, TransmissionMethod
from mllmsc.types import TransmissionResult

H, W = 64, 96
# sd-latent needs a local Stable Diffusion folder, and a random tiny one cannot beat grey:
# tests/decoder/test_stable_diffusion.py checks its bill, shapes, errors and seeding on tiny components.
NAMES = [name for name in METHODS.available() if name != "sd-latent"]


@pytest.fixture(scope="module")
def shared(tiny_codec_dir, tiny_refiner_dir):
    return Shared(weights={"ia-jscc": tiny_codec_dir, "generative-refiner": tiny_refiner_dir})


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the LDPC decoder's small ops crawl when two threads fight
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def photo():
    from skimage import data, transform

    small = transform.resize(data.astronaut(), (H, W), anti_aliasing=True)
    return torch.from_numpy(((small * 255).round() / 255).transpose(2, 0, 1).copy()).float()[None]


def importance_for(x):
    return GUIDANCE.build("box", box=(16, 8, 48, 40))(x, None)


@pytest.mark.parametrize("name", NAMES)
def test_every_method_keeps_the_contract(name, shared, photo):
    method = METHODS.build(name, shared=shared)
    assert isinstance(method, TransmissionMethod) and method.name == name
    importance = importance_for(photo)
    result = method(
        photo, importance, CHANNELS.build("awgn"), 20.0, 1 / 8, generator=torch.Generator().manual_seed(0)
    )
    assert isinstance(result, TransmissionResult) and result.method == name
    assert result.x_hat.shape == photo.shape and result.x_hat.dtype == torch.float32
    assert result.x_hat.min() >= 0 and result.x_hat.max() <= 1
    bill = result.symbols
    assert bill.budget == int(1 / 8 * 3 * H * W) and (bill.height, bill.width) == (H, W)
    assert bill.payload.shape == bill.side_info.shape == (1,)
    assert torch.all(bill.payload + bill.side_info == bill.total) and torch.all(bill.total <= bill.budget)
    assert result.lost.shape == (1,) and result.lost.dtype == torch.bool and not result.lost.any()
    assert all(v >= 0 for v in result.latency_ms.values()) and "total" in result.latency_ms
    if int(bill.total[0]) > 0:  # a method that sends (all but `clean`) times what it does
        assert "encode" in result.latency_ms and "decode" in result.latency_ms
        assert result.latency_ms["total"] > 0
    else:  # nothing sent, nothing lost: the image itself
        assert torch.equal(result.x_hat, photo)
    # 20 dB with 1/8 of the source dimensions: far better than sending nothing (mid-grey).
    grey = -10 * torch.log10((photo - 0.5).square().mean())
    psnr = -10 * torch.log10((result.x_hat - photo).square().mean())
    assert psnr > grey + 3


@pytest.mark.parametrize("name", NAMES)
def test_every_method_is_reproducible_per_generator(name, shared, photo):
    method = METHODS.build(name, shared=shared)
    channel = CHANNELS.build("rayleigh")
    importance = importance_for(photo)

    def send(seed):
        return method(photo, importance, channel, 8.0, 1 / 16, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(send(5).x_hat, send(5).x_hat)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    ("snr", "cbr", "shape", "fragment"),
    [
        (float("nan"), 1 / 16, (1, 3, H, W), "SNR"),
        (-400.0, 1 / 16, (1, 3, H, W), "SNR must lie in"),
        (10.0, 0.0, (1, 3, H, W), "CBR"),
        (10.0, 1.5, (1, 3, H, W), "CBR"),
        (10.0, 1 / 16, (3, H, W), "[B, 3, H, W]"),
        (10.0, 1 / 16, (1, 1, H, W), "[B, 3, H, W]"),
    ],
)
def test_bad_input_is_a_user_error(name, shared, snr, cbr, shape, fragment):
    method = METHODS.build(name, shared=shared)
    x = torch.rand(shape)
    importance = importance_for(torch.rand(1, 3, H, W))
    with pytest.raises(UserError, match=f"{name}.*{fragment}".replace("[", r"\[").replace("]", r"\]")):
        method(x, importance, CHANNELS.build("awgn"), snr, cbr)


def test_jscc_methods_share_one_codec_and_digital_ones_one_cache(shared):
    a, b = METHODS.build("uniform-jscc", shared=shared), METHODS.build("ia-jscc", shared=shared)
    assert a.codec is b.codec
    c, d = METHODS.build("digital", shared=shared), METHODS.build("digital-capacity", shared=shared)
    assert c.cache is d.cache


def test_uniform_sends_no_side_info_and_importance_does(shared, photo):
    importance = importance_for(photo)
    out = {
        name: METHODS.build(name, shared=shared)(photo, importance, CHANNELS.build("awgn"), 10.0, 1 / 16)
        for name in ("uniform-jscc", "ia-jscc")
    }
    assert int(out["uniform-jscc"].symbols.side_info[0]) == 0
    assert int(out["ia-jscc"].symbols.side_info[0]) > 0
    assert out["uniform-jscc"].symbols.budget == out["ia-jscc"].symbols.budget


def test_ia_jscc_without_an_importance_map_is_refused(shared, photo):
    with pytest.raises(UserError, match="needs an importance map"):
        METHODS.build("ia-jscc", shared=shared)(photo, None, CHANNELS.build("awgn"), 10.0, 1 / 16)


def test_a_new_method_is_one_registration(photo):
    """The registry takes a new method without any change elsewhere (the docstring's example)."""
    from mllmsc.codec import symbol_budget
    from mllmsc.registry import Registry
    from mllmsc.types import SymbolBill

    class Identity(TransmissionMethod):
        name = "identity"

        def transmit(self, x, importance, channel, snr_db, cbr, *, generator=None):
            budget = symbol_budget(cbr, *x.shape[-2:])
            zero = torch.zeros(x.shape[0], dtype=torch.int64)
            return self.result(x.clone(), SymbolBill(budget, zero, zero, *x.shape[-2:]), {"total": 0.0})

    registry: Registry[TransmissionMethod] = Registry("method")
    registry.register("identity")(Identity)
    result = registry.build("identity")(photo, None, CHANNELS.build("awgn"), 10.0, 1 / 16)
    assert torch.equal(result.x_hat, photo) and result.method == "identity"


@pytest.mark.parametrize("name", ["uniform-jscc", "ia-jscc"])
@pytest.mark.parametrize("channel", ["awgn", "rayleigh", "rician", "ofdm-tdl"])
def test_jscc_is_numerically_safe_over_the_whole_supported_snr_range(name, channel, shared, photo):
    from mllmsc.limits import SNR_MAX_DB, SNR_MIN_DB

    method = METHODS.build(name, shared=shared)
    for snr in (SNR_MIN_DB, SNR_MAX_DB):
        out = method(photo, importance_for(photo), CHANNELS.build(channel), snr, 1 / 16)
        assert torch.isfinite(out.x_hat).all() and out.x_hat.min() >= 0 and out.x_hat.max() <= 1

"""The generative decoder on a tiny random refiner: modes, schedules, accounting, errors."""

import pytest
import torch

from mllmsc.channel import CHANNELS
from mllmsc.decoder import DECODERS, ReceiverContext
from mllmsc.decoder.generative import MODE_SETTINGS, GenerativeDecoder
from mllmsc.decoder.refiner import GenerativeRefiner, RefinerConfig, noise_schedule
from mllmsc.errors import UserError
from mllmsc.methods import METHODS
from mllmsc.methods.base import Shared


def _context(b: int = 1, h: int = 32, w: int = 48) -> ReceiverContext:
    return ReceiverContext(
        snr_db=torch.full((b,), 10.0), cbr=torch.full((b,), 1 / 16), importance=torch.ones(b, 1, h, w)
    )


@pytest.fixture
def refiner(tiny_refiner_dir) -> GenerativeRefiner:
    return GenerativeRefiner.from_pretrained(tiny_refiner_dir)


def test_the_schedule_ends_at_pure_noise_and_samplers_start_there():
    """Zero terminal SNR + trailing spacing: a sampler of any length starts where training's t = T is."""
    config = RefinerConfig(train_timesteps=1000)
    train = noise_schedule(config, "ddpm")
    assert float(train.alphas_cumprod[-1]) == pytest.approx(0.0, abs=1e-9)
    assert torch.all(train.alphas_cumprod[1:] <= train.alphas_cumprod[:-1])  # noise grows with t
    for kind in ("ddim", "ddpm"):
        for steps in (1, 4, 16):
            sampler = noise_schedule(config, kind)
            sampler.set_timesteps(steps)
            assert int(sampler.timesteps[0]) == 999 and len(sampler.timesteps) == steps
    with pytest.raises(ValueError, match="ddpm"):
        noise_schedule(config, "euler")


def test_fast_never_runs_diffusion(refiner, one_thread):
    calls = []
    refiner.register_forward_hook(lambda *a: calls.append(1))
    x_hat = torch.rand(1, 3, 32, 48)
    out = GenerativeDecoder("fast", model=refiner)(x_hat, _context())
    assert out.x is x_hat and out.steps == 0 and not calls
    assert GenerativeDecoder("fast").model is None  # needs no weights at all
    assert DECODERS.build("fast")(x_hat, _context()).x is x_hat


@pytest.mark.parametrize("mode", ["balanced", "quality"])
def test_each_mode_runs_its_steps_and_reports_them(mode, refiner, one_thread):
    calls, progress = [], []
    refiner.register_forward_hook(lambda *a: calls.append(1))
    x_hat = torch.rand(2, 3, 30, 45)  # not a multiple of the UNet's grid: padded, then cropped
    decoder = GenerativeDecoder(mode, model=refiner)
    out = decoder(
        *_context_for(x_hat),
        generator=torch.Generator().manual_seed(0),
        progress=lambda *p: progress.append(p),
    )
    steps, sampler, perception = MODE_SETTINGS[mode]
    assert out.steps == steps == len(calls) and progress[-1] == (steps, steps)
    assert out.details["perception"] == perception
    assert out.x.shape == x_hat.shape and out.x.min() >= 0 and out.x.max() <= 1
    assert out.report() == {"name": "generative", "mode": mode, "steps": steps, "latency_ms": out.latency_ms}
    assert out.latency_ms > 0 and out.details["sampler"] == sampler
    again = decoder(*_context_for(x_hat), generator=torch.Generator().manual_seed(0))
    assert torch.equal(out.x, again.x)  # one result per generator


def test_perception_interpolates_between_the_posterior_mean_and_the_sample(refiner, one_thread):
    """p = 0: the first step's x0-prediction (the mean); p = 1: the sample; p = 0.5: half-way."""
    x_hat = torch.full((1, 3, 32, 48), 0.5)  # mid-grey: no clamping in the way of the linear check
    out = {
        p: GenerativeDecoder("quality", model=refiner, perception=p)(
            *_context_for(x_hat), generator=torch.Generator().manual_seed(3)
        ).x
        for p in (0.0, 0.5, 1.0)
    }
    assert not torch.allclose(out[0.0], out[1.0])
    torch.testing.assert_close(out[0.5], (out[0.0] + out[1.0]) / 2, atol=1e-5, rtol=0)
    # the mean does not depend on the sampler's length: one step from t = T gives the same x0-prediction
    one = GenerativeDecoder("quality", model=refiner, steps=1, perception=0.0)
    torch.testing.assert_close(
        one(*_context_for(x_hat), generator=torch.Generator().manual_seed(3)).x, out[0.0]
    )
    assert MODE_SETTINGS["fast"][2] == 0.0 < MODE_SETTINGS["balanced"][2] <= MODE_SETTINGS["quality"][2] <= 1


def _context_for(x_hat):
    b, _, h, w = x_hat.shape
    return x_hat, _context(b, h, w)


def test_bad_settings_are_user_errors(refiner):
    with pytest.raises(UserError, match="mode"):
        GenerativeDecoder("turbo", model=refiner)
    with pytest.raises(UserError, match="sampler"):
        GenerativeDecoder("balanced", model=refiner, sampler="euler")
    with pytest.raises(UserError, match="steps"):
        GenerativeDecoder("balanced", model=refiner, steps=-1)
    with pytest.raises(UserError, match="perception"):
        GenerativeDecoder("quality", model=refiner, perception=1.5)
    with pytest.raises(UserError, match="only mode"):
        DECODERS.build("fast", mode="quality")


def test_generative_methods_keep_the_links_symbols(tiny_codec_dir, tiny_refiner_dir, one_thread):
    """Same link, same bill: the decoder changes the picture, not what was sent."""
    shared = Shared(weights={"ia-jscc": tiny_codec_dir, "generative-refiner": tiny_refiner_dir})
    x = torch.rand(1, 3, 32, 48)
    channel = CHANNELS.build("awgn")
    runs = {
        name: METHODS.build(name, shared=shared)(
            x, None, channel, 10.0, 1 / 16, generator=torch.Generator().manual_seed(1)
        )
        for name in ("uniform-jscc", "generative-fast", "generative-balanced")
    }
    base = runs["uniform-jscc"]
    for name in ("generative-fast", "generative-balanced"):
        assert torch.equal(runs[name].symbols.total, base.symbols.total)
        assert torch.equal(runs[name].symbols.side_info, base.symbols.side_info)
    assert torch.equal(runs["generative-fast"].x_hat, base.x_hat)  # fast is the JSCC decoder itself
    assert not torch.equal(runs["generative-balanced"].x_hat, base.x_hat)
    assert runs["generative-balanced"].details["decoder"]["steps"] == MODE_SETTINGS["balanced"][0]

"""The contract every registered channel keeps, run over ``CHANNELS.available()``.

Each channel is built with its defaults and with each CSI option it takes (found from its
signature, so a new channel is covered by registering it): shapes and dtypes, the SNR → noise
variance rule, reproducibility per ``torch.Generator``, a true description of its fading, unit
channel power and the noise power it promises.
"""

import inspect
import math
import typing

import pytest
import torch
from scipy import stats

from mllmsc.channel import CHANNELS, Fading, mmse_equalize, power_normalize
from mllmsc.channel.fading import Csi


def _options(name: str) -> list[dict]:
    """Defaults, then each CSI-related option the channel's constructor takes."""
    params = inspect.signature(CHANNELS.get(name)).parameters
    out: list[dict] = [{}]
    if "csi" in params:
        out += [{"csi": mode} for mode in typing.get_args(Csi)]
    if "estimation" in params:
        out += [{"estimation": "ls", "csi": "equalize"}, {"estimation": "ls", "csi": "decoder"}]
    return out


CASES = [(name, kwargs) for name in CHANNELS.available() for kwargs in _options(name)]
IDS = [name + "".join(f"-{v}" for v in kwargs.values()) for name, kwargs in CASES]


def _raw(name: str) -> dict:
    """Options for the raw output ``y = h z + n`` with ``h`` (where the channel has a choice)."""
    return {"csi": "decoder"} if "csi" in inspect.signature(CHANNELS.get(name)).parameters else {}


def _default_csi(name: str) -> str | None:
    param = inspect.signature(CHANNELS.get(name)).parameters.get("csi")
    return None if param is None else param.default


@pytest.fixture(scope="module")
def z():
    gen = torch.Generator().manual_seed(7)
    return power_normalize(torch.randn(3, 2, 600, dtype=torch.complex64, generator=gen))


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=IDS)
def test_shapes_dtypes_and_noise_variance(name, kwargs, z):
    snr_db = torch.tensor([0.0, 7.5, 20.0])
    out = CHANNELS.build(name, **kwargs)(z, snr_db, generator=torch.Generator().manual_seed(0))
    assert out.y.shape == z.shape and out.y.dtype == torch.complex64
    assert out.noise_var.shape == (3,) and out.noise_var.dtype == torch.float32
    torch.testing.assert_close(out.noise_var, 10 ** (-snr_db / 10))
    assert torch.isfinite(torch.view_as_real(out.y)).all()
    if out.h is not None:
        assert out.h.shape == z.shape and out.h.dtype == torch.complex64
    # equalised exactly when asked to (a channel without h has nothing to equalise)
    assert out.equalized == (out.h is not None and kwargs.get("csi", _default_csi(name)) == "equalize")
    with pytest.raises(TypeError):
        CHANNELS.build(name, **kwargs)(z.real, 10.0)


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=IDS)
def test_reproducible_per_generator_and_blind_to_the_global_one(name, kwargs, z):
    channel = CHANNELS.build(name, **kwargs)
    first = channel(z, 5.0, generator=torch.Generator().manual_seed(11))
    torch.rand(1000)  # moves the global generator: a channel must not draw from it
    again = channel(z, 5.0, generator=torch.Generator().manual_seed(11))
    other = channel(z, 5.0, generator=torch.Generator().manual_seed(12))
    assert torch.equal(first.y, again.y)
    assert (first.h is None) == (again.h is None) and (first.h is None or torch.equal(first.h, again.h))
    assert not torch.equal(first.y, other.y)


@pytest.mark.parametrize("name", CHANNELS.available())
def test_it_describes_its_fading(name, z):
    channel = CHANNELS.build(name)
    fading = channel.fading
    assert isinstance(fading, Fading)
    nodes, weights = fading.quadrature()
    assert weights.sum() == pytest.approx(1.0) and float(weights @ nodes) == pytest.approx(1.0)
    capacity = fading.ergodic_capacity(10.0)
    assert 0 < capacity <= math.log2(11) + 1e-12  # Jensen: fading never beats AWGN
    out = channel(z, 10.0, generator=torch.Generator().manual_seed(0))
    assert (out.h is None) == (fading.law == "none")


@pytest.mark.parametrize("name", CHANNELS.available())
def test_empirical_channel_power_is_one_and_the_law_is_the_described_one(name):
    channel = CHANNELS.build(name, **_raw(name))
    fading = channel.fading
    # many items (one fade each without coherence) of whole OFDM slots (864 data symbols by default:
    # the TDL channel has unit power over a slot, not on each resource element)
    items, per_item = 1500, 864
    z = torch.ones(items, per_item, dtype=torch.complex64)
    h = channel(z, 10.0, generator=torch.Generator().manual_seed(3)).h
    if h is None:
        assert fading.law == "none"
        return
    gain = h.abs().square()
    assert gain.mean().item() == pytest.approx(1.0, rel=0.05)  # E|h|² = 1
    if not fading.exact:
        return  # a stand-in law (OFDM-TDL): only the power is promised
    # one fade per `coherence` symbols (None: per item), then independent fades
    block = per_item if fading.coherence is None else min(fading.coherence, per_item)
    blocks = gain[:, : per_item // block * block].reshape(items, per_item // block, block)
    assert torch.equal(blocks, blocks[..., :1].expand_as(blocks))
    samples = blocks[..., 0].flatten()[:5000].double().numpy()
    assert stats.kstest(samples, fading.cdf).pvalue > 1e-3


@pytest.mark.parametrize("name", CHANNELS.available())
def test_measured_noise_power_matches_noise_var(name):
    gen = torch.Generator().manual_seed(5)
    z = power_normalize(torch.randn(2, 12_000, dtype=torch.complex64, generator=gen))
    out = CHANNELS.build(name, **_raw(name))(z, torch.tensor([3.0, 12.0]), generator=gen)
    h = torch.ones_like(z) if out.h is None else out.h
    noise = (out.y - h * z).abs().square().mean(dim=1)
    torch.testing.assert_close(noise, out.noise_var, rtol=0.05, atol=0.0)


@pytest.mark.parametrize(
    "name", [n for n in CHANNELS.available() if "csi" in inspect.signature(CHANNELS.get(n)).parameters]
)
def test_equalized_output_is_the_mmse_estimate_of_the_raw_one(name, z):
    raw = CHANNELS.build(name, csi="decoder")(z, 6.0, generator=torch.Generator().manual_seed(9))
    eq = CHANNELS.build(name, csi="equalize")(z, 6.0, generator=torch.Generator().manual_seed(9))
    torch.testing.assert_close(eq.h, raw.h)
    torch.testing.assert_close(eq.y, mmse_equalize(raw.y, raw.h, raw.noise_var))

import pytest
import torch

from mllmsc.channel import CHANNELS
from mllmsc.codec import IAJSCC
from mllmsc.guidance import GUIDANCE
from mllmsc.pipeline import STAGES, Pipeline


@pytest.fixture
def codec(tiny_codec_dir):
    return IAJSCC.from_pretrained(tiny_codec_dir).eval()


def image(gen, h=48, w=80):
    return torch.rand(2, 3, h, w, generator=gen)


@pytest.mark.parametrize("cbr", [1 / 48, 1 / 16, 1 / 6])
def test_uniform_pipeline_meets_budget_with_no_side_info(codec, gen, cbr):
    x = image(gen)
    result = Pipeline(codec, CHANNELS.build("awgn"))(x, 10.0, cbr, generator=gen)
    alloc = result.allocation
    assert result.x_hat.shape == x.shape
    assert result.x_hat.min() >= 0 and result.x_hat.max() <= 1
    assert torch.all(alloc.side_info == 0)
    assert torch.all(alloc.total == alloc.budget)
    assert alloc.budget == int(cbr * 3 * 48 * 80)
    assert set(result.latency_ms) == {*STAGES, "total"}
    assert result.latency_ms["total"] >= max(result.latency_ms[s] for s in STAGES)


def test_importance_pipeline_counts_side_info_and_favours_the_roi(codec, gen):
    x = image(gen)
    guide = GUIDANCE.build("box", box=(0, 0, 32, 32))
    result = Pipeline(codec, CHANNELS.build("rayleigh"), guide)(x, 5.0, 1 / 16, generator=gen)
    alloc = result.allocation
    assert torch.all(alloc.side_info > 0)
    assert torch.all(alloc.payload + alloc.side_info == alloc.total)
    assert torch.all(alloc.total <= alloc.budget)
    k = alloc.k[0, 0].float()
    assert k[:2, :2].mean() > 2 * k[2:, 2:].mean()  # cells inside the box get more symbols


def test_same_seed_same_reconstruction(codec):
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    pipe = Pipeline(codec, CHANNELS.build("awgn"))
    a = pipe(x, 0.0, 1 / 8, generator=torch.Generator().manual_seed(3)).x_hat
    b = pipe(x, 0.0, 1 / 8, generator=torch.Generator().manual_seed(3)).x_hat
    c = pipe(x, 0.0, 1 / 8, generator=torch.Generator().manual_seed(4)).x_hat
    assert torch.equal(a, b) and not torch.equal(a, c)

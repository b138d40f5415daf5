import pytest
import torch

from mllmsc.channel import CHANNELS
from mllmsc.guidance import GUIDANCE
from mllmsc.methods import METHODS
from mllmsc.methods.base import Shared
from mllmsc.pipeline import STAGES, Pipeline


@pytest.fixture
def methods(tiny_codec_dir):
    shared = Shared(weights={"ia-jscc": tiny_codec_dir})
    return {name: METHODS.build(name, shared=shared) for name in ("uniform-jscc", "ia-jscc")}


def image(gen, h=48, w=80):
    return torch.rand(2, 3, h, w, generator=gen)


@pytest.mark.parametrize("cbr", [1 / 48, 1 / 16, 1 / 6])
def test_uniform_pipeline_meets_budget_with_no_side_info(methods, gen, cbr):
    x = image(gen)
    pipe = Pipeline(methods["uniform-jscc"], CHANNELS.build("awgn"), GUIDANCE.build("uniform"))
    result = pipe(x, 10.0, cbr, generator=gen)
    bill = result.symbols
    assert result.x_hat.shape == x.shape
    assert result.x_hat.min() >= 0 and result.x_hat.max() <= 1
    assert torch.all(bill.side_info == 0)
    assert torch.all(bill.total == bill.budget)
    assert bill.budget == int(cbr * 3 * 48 * 80)
    assert set(result.latency_ms) == {*STAGES, "total"}
    parts = sum(result.latency_ms[s] for s in STAGES)
    assert result.latency_ms["total"] == pytest.approx(parts, rel=0.05, abs=0.5)


def test_importance_pipeline_counts_side_info_and_favours_the_roi(methods, gen):
    x = image(gen)
    guide = GUIDANCE.build("box", box=(0, 0, 32, 32))
    result = Pipeline(methods["ia-jscc"], CHANNELS.build("rayleigh"), guide)(x, 5.0, 1 / 16, generator=gen)
    bill, alloc = result.symbols, result.allocation
    assert torch.all(bill.side_info > 0)
    assert torch.all(bill.payload + bill.side_info == bill.total)
    assert torch.all(bill.total <= bill.budget)
    assert torch.equal(bill.payload, alloc.payload) and torch.equal(bill.side_info, alloc.side_info)
    k = alloc.k[0, 0].float()
    assert k[:2, :2].mean() > 2 * k[2:, 2:].mean()  # cells inside the box get more symbols
    assert result.importance.backend == "box"


def test_same_seed_same_reconstruction(methods):
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    pipe = Pipeline(methods["uniform-jscc"], CHANNELS.build("awgn"))
    a = pipe(x, 0.0, 1 / 8, generator=torch.Generator().manual_seed(3)).x_hat
    b = pipe(x, 0.0, 1 / 8, generator=torch.Generator().manual_seed(3)).x_hat
    c = pipe(x, 0.0, 1 / 8, generator=torch.Generator().manual_seed(4)).x_hat
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_a_method_that_needs_importance_refuses_to_run_without_guidance(methods, gen):
    from mllmsc.errors import UserError

    with pytest.raises(UserError, match="needs an importance map"):
        Pipeline(methods["ia-jscc"], CHANNELS.build("awgn"))(image(gen), 10.0, 1 / 16)


def test_a_flat_importance_map_is_sent_as_uniform_without_side_info(methods, gen):
    from mllmsc.types import ImportanceMap

    x = image(gen)
    zeros = torch.zeros(2, 1, 48, 80)
    flat = ImportanceMap(soft=zeros, mask=zeros.bool(), backend="mask")
    guided = methods["ia-jscc"](x, flat, CHANNELS.build("awgn"), 10.0, 1 / 16, generator=gen)
    uniform = methods["uniform-jscc"](x, flat, CHANNELS.build("awgn"), 10.0, 1 / 16)
    assert torch.all(guided.symbols.side_info == 0) and "flat" in guided.details["fallback"]
    assert torch.equal(guided.allocation.k, uniform.allocation.k)
    assert "fallback" not in uniform.details

"""Allocation and side information: the budget is met exactly, the map survives the round trip."""

import math

import pytest
import torch

from mllmsc.codec.allocation import (
    allocate,
    allocate_uniform,
    allocation_from_levels,
    decode_side_info,
    encode_side_info,
    side_info_symbols,
    symbol_budget,
    waterfill,
)


def _random_map(g: torch.Generator, h: int, w: int) -> torch.Tensor:
    kind = int(torch.randint(3, (1,), generator=g))
    if kind == 0:
        return torch.rand(1, 1, h, w, generator=g)
    m = torch.zeros(1, 1, h, w)
    top, left = int(torch.randint(h // 2, (1,), generator=g)), int(torch.randint(w // 2, (1,), generator=g))
    m[..., top : top + h // 3, left : left + w // 4] = 1.0 if kind == 1 else 0.6
    return m


@pytest.mark.parametrize("seed", range(36))
def test_budget_met_exactly(seed):
    g = torch.Generator().manual_seed(seed)
    h = 40 + int(torch.randint(200, (1,), generator=g))
    w = 40 + int(torch.randint(200, (1,), generator=g))
    cbr = math.exp(float(torch.empty(()).uniform_(math.log(1 / 48), math.log(1 / 6), generator=g)))
    budget = symbol_budget(cbr, h, w)
    m = torch.cat([_random_map(g, h, w) for _ in range(2)])
    a = allocate(m, budget, k_max=192, concentration=0.5 + 2 * float(torch.rand((), generator=g)), floor=0.05)
    assert a.k.shape == (2, 1, math.ceil(h / 16), math.ceil(w / 16))
    assert a.k.dtype == torch.int64
    assert (a.k >= 0).all() and (a.k <= 192).all()
    assert torch.equal(a.payload, a.k.flatten(1).sum(1))
    assert torch.equal(a.payload + a.side_info, a.total)
    assert (a.total == budget).all() and (a.total <= a.budget).all()
    assert (a.side_info > 0).all()
    assert torch.allclose(a.cbr_used, a.total.double() / (3 * h * w))


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_constant_maps(value):
    m = torch.full((1, 1, 64, 96), value)
    budget = symbol_budget(1 / 16, 64, 96)
    a = allocate(m, budget, k_max=192)
    assert int(a.total[0]) == budget
    # A constant map spreads the payload evenly (to within one symbol).
    assert int(a.k.max() - a.k.min()) <= 1
    # ... and run-length codes to a handful of bits.
    assert int(a.side_info[0]) <= side_info_symbols(1 + 2 + 2 * 5 + 1)


def test_zero_importance_without_floor_still_fills_the_budget():
    m = torch.zeros(1, 1, 64, 64)
    a = allocate(m, 500, k_max=64, floor=0.0)
    assert int(a.total[0]) == 500


def test_importance_gets_more_symbols():
    m = torch.zeros(1, 1, 128, 128)
    m[..., :32, :32] = 1
    a = allocate(m, symbol_budget(1 / 16, 128, 128), k_max=192, floor=0.1)
    roi = a.k[0, 0, :2, :2].float().mean()
    background = a.k[0, 0, 4:, 4:].float().mean()
    assert roi > 5 * background


def test_cap_is_respected_and_spills_over():
    w = torch.tensor([100.0, 1.0, 1.0, 1.0])
    k = waterfill(w, 30, 10)
    assert k.tolist() == [10, 7, 7, 6] and int(k.sum()) == 30


def test_uniform_has_no_side_info_and_is_deterministic():
    a = allocate_uniform(3, 50, 70, 1000, k_max=192)
    b = allocate_uniform(3, 50, 70, 1000, k_max=192)
    assert torch.equal(a.k, b.k)
    assert (a.side_info == 0).all() and (a.total == 1000).all()
    assert int(a.k.max() - a.k.min()) <= 1
    assert a.levels is None and a.method == "uniform"


@pytest.mark.parametrize("seed", range(10))
def test_side_info_round_trip(seed):
    g = torch.Generator().manual_seed(seed)
    h, w = 16 * (1 + seed), 16 * (3 + seed % 4)
    m = _random_map(g, h, w)
    budget = symbol_budget(1 / 8, h, w)
    a = allocate(m, budget, k_max=192)
    grid = tuple(a.k.shape[-2:])
    bits = encode_side_info(a.levels[0, 0], 4)
    assert bits.dtype == torch.uint8 and set(bits.tolist()) <= {0, 1}
    assert int(a.side_info[0]) == side_info_symbols(bits.numel())
    levels = decode_side_info(bits, grid, 4)
    assert torch.equal(levels, a.levels[0, 0])
    # The receiver recomputes exactly the same k from the decoded levels and the budget.
    again = allocation_from_levels(levels[None, None], budget, height=h, width=w, k_max=192)
    assert torch.equal(again.k, a.k)


def test_side_info_corrupt_bits_raise():
    levels = torch.tensor([[0, 1], [2, 3]], dtype=torch.uint8)
    bits = encode_side_info(levels, 4)
    with pytest.raises(ValueError):
        decode_side_info(bits[:-1], (2, 2), 4)
    with pytest.raises(ValueError):
        decode_side_info(bits, (3, 3), 4)


def test_budget_errors():
    m = torch.rand(1, 1, 64, 64)
    with pytest.raises(ValueError, match="side information"):
        allocate(m, 3, k_max=192)
    with pytest.raises(ValueError, match="positive"):
        allocate(m, 0, k_max=192)
    with pytest.raises(ValueError, match="more than this codec sends"):
        allocate(m, 16 * 192 + 1, k_max=192)
    with pytest.raises(ValueError, match="more than this codec sends"):
        allocate_uniform(1, 64, 64, 16 * 8 + 1, k_max=8)
    with pytest.raises(ValueError):
        symbol_budget(0.0, 64, 64)


def test_symbol_budget_counts_the_original_size():
    assert symbol_budget(1 / 16, 512, 768) == 73728
    assert symbol_budget(1 / 16, 50, 70) == math.floor(3 * 50 * 70 / 16)


@pytest.mark.parametrize("seed", range(8))
def test_reserved_header_symbols_count_in_the_payload(seed):
    """The codec's own header (IA-JSCC's 18-symbol gain) comes out of the same budget."""
    g = torch.Generator().manual_seed(seed)
    h, w = 48 + 8 * seed, 80
    budget = symbol_budget(1 / 16, h, w)
    m = _random_map(g, h, w)
    for a in (allocate(m, budget, k_max=192, reserved=18), allocate_uniform(1, h, w, budget, reserved=18)):
        assert torch.equal(a.payload, a.k.flatten(1).sum(1) + 18)
        assert int(a.total[0]) == budget
    assert int(allocate_uniform(1, h, w, budget, reserved=18).side_info[0]) == 0


def test_a_budget_that_cannot_hold_the_header_is_a_clear_error():
    with pytest.raises(ValueError, match="header"):
        allocate_uniform(1, 64, 64, 18, reserved=18)
    with pytest.raises(ValueError, match="header"):
        allocate(torch.rand(1, 1, 64, 64), 10, k_max=192, reserved=18)


# ---- allocator blocks ----


@pytest.mark.parametrize("name", ["uniform", "importance"])
def test_the_receiver_rebuilds_the_allocation_from_the_side_bits_alone(name, gen):
    from mllmsc.codec import ALLOCATORS

    allocator = ALLOCATORS.build(name, cell=16, k_max=192, reserved=18)
    m = torch.rand(3, 1, 70, 100, generator=gen).pow(4)  # a peaky map: unequal levels
    budget = symbol_budget(1 / 16, 70, 100)
    sent = allocator.allocate(m, budget)
    received = allocator.receive(sent.side_bits, budget, 70, 100)
    assert torch.equal(sent.k, received.k)
    assert torch.equal(sent.total, received.total) and torch.all(sent.total <= budget)
    assert len(sent.side_bits) == 3
    bits_sent = [int(b.numel()) for b in sent.side_bits]
    assert torch.equal(sent.side_info, torch.tensor([side_info_symbols(n) if n else 0 for n in bits_sent]))
    if name == "uniform":
        assert bits_sent == [0, 0, 0] and not allocator.uses_importance
    else:
        assert all(n > 0 for n in bits_sent) and allocator.uses_importance


def test_allocator_for_takes_cell_k_max_and_header_from_the_codec(tiny_codec_dir):
    from mllmsc.codec import IAJSCC, allocator_for

    codec = IAJSCC.from_pretrained(tiny_codec_dir)
    allocator = allocator_for(codec, "importance", floor=0.2)
    assert (allocator.cell, allocator.k_max, allocator.reserved) == (
        codec.cell,
        codec.k_max,
        codec.header_symbols,
    )
    assert allocator.rule["floor"] == 0.2
    alloc = allocator.allocate(torch.ones(1, 1, 48, 48), 500)
    assert int(alloc.payload[0]) == int(alloc.k.sum()) + codec.header_symbols


def test_corrupted_side_bits_are_refused_not_misread(gen):
    from mllmsc.codec import ImportanceAllocator

    allocator = ImportanceAllocator()
    m = torch.rand(1, 1, 64, 64, generator=gen)
    sent = allocator.allocate(m, 2000)
    with pytest.raises(ValueError, match="side information"):
        allocator.receive((sent.side_bits[0][:-1],), 2000, 64, 64)


def test_an_unknown_allocator_lists_the_valid_ones():
    from mllmsc.codec import ALLOCATORS
    from mllmsc.errors import UserError

    with pytest.raises(UserError, match="importance, uniform"):
        ALLOCATORS.build("greedy")

"""From an importance map and a symbol budget to symbols per cell, with honest side information.

The scheme (both ends know ``cell``, ``k_max``, ``levels``, ``concentration``, ``floor``, the image
size and the budget; these are session parameters, not per-image data)::

    m [B,1,H,W] ─pad, mean per cell─► cell importance ─quantise─► level q ∈ {0..L-1}   (side info)
    q ─► weight w = floor + (q / (L-1)) ** concentration
    payload P = budget - side_info_symbols
    k = water-fill(w, P, cap k_max) ─ largest-remainder rounding ─► integers, sum(k) == P exactly

The receiver decodes ``q`` from the side information and runs the same deterministic rule (float64,
ties broken by raster index), so it recovers ``k`` bit-exactly without ``k`` itself being sent:
sending ``q`` (2 bits for L = 4) is far cheaper than sending ``k`` (8 bits for k_max = 192).

**Side-information coding** (:func:`encode_side_info`): one mode bit, then the cheaper of
  (0) fixed-length: ``ceil(log2 L)`` bits per cell in raster order, or
  (1) run-length: for each run of equal levels in raster order, the level (``ceil(log2 L)`` bits)
      and ``run length - 1`` in order-0 Exp-Golomb.
The bits are sent before the payload at a robust rate, QPSK with a rate-1/3 code (2/3 information
bit per complex symbol), and assumed decoded without error; the cost is
``side_info_symbols(bits) = ceil(3 · bits / 2)`` channel symbols, counted in the same budget.
Example: a Kodak image (48×32 cells) costs at most 1 + 3072 bits = 4610 symbols (6.3 % of the
CBR 1/16 budget); a single-blob ROI map typically run-length codes to a few hundred bits.

**Uniform allocation** (:func:`allocate_uniform`) sends no side information: ``k`` follows from
the budget alone, ``floor(P / N)`` per cell and the remainder spread evenly by a fixed rule.

**Allocator blocks** (:data:`ALLOCATORS`: ``uniform``, ``importance``) hold the session parameters
and are what the two ends of the link call: the transmitter ``allocate(m, budget)``, the receiver
``receive(side_bits, budget, height, width)``, which sees only the bits::

    tx: allocator.allocate(m, budget) ──► Allocation (k, side_bits) ──► side_bits ──┐
    rx: allocator.receive(side_bits, budget, H, W) ──► Allocation (the same k) ◄────┘

:func:`allocator_for` builds one that fits a codec (its cell, ``k_max`` and header).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from mllmsc.errors import UserError
from mllmsc.registry import Registry
from mllmsc.types import Allocation


class BudgetError(UserError):
    """A symbol budget the allocation cannot meet (a ``ValueError``; the CLI exits with code 2)."""


# QPSK (2 coded bits per symbol) with a rate-1/3 channel code: 2/3 information bits per symbol.
SIDE_INFO_BITS_PER_SYMBOL = 2.0 / 3.0


def symbol_budget(cbr: float, height: int, width: int) -> int:
    """Channel symbols allowed for an ``height × width`` RGB image at ``cbr``: ``floor(cbr·3·H·W)``."""
    if not 0 < cbr <= 1:
        raise BudgetError(f"cbr must lie in (0, 1], got {cbr}")
    return math.floor(cbr * 3 * height * width + 1e-9)


def side_info_symbols(bits: int) -> int:
    """Channel symbols that carry ``bits`` information bits at QPSK, rate 1/3."""
    return math.ceil(bits * 3 / 2)


def _bits_per_level(levels: int) -> int:
    return max(1, math.ceil(math.log2(levels)))


def _grid(height: int, width: int, cell: int) -> tuple[int, int]:
    return math.ceil(height / cell), math.ceil(width / cell)


def _check_budget(budget: int, n_cells: int, k_max: int, reserved: int = 0) -> None:
    if not isinstance(budget, int) or budget <= 0:
        raise BudgetError(f"the symbol budget must be a positive integer, got {budget!r}")
    if budget - reserved < 1:
        raise BudgetError(
            f"a budget of {budget} symbols cannot hold the codec's {reserved}-symbol header; raise the CBR"
        )
    budget -= reserved
    if budget > k_max * n_cells:
        raise BudgetError(
            f"a budget of {budget} symbols is more than this codec sends: at most "
            f"{k_max * n_cells} ({n_cells} cells × k_max {k_max}); lower the CBR"
        )


def cell_importance(importance: torch.Tensor, cell: int) -> torch.Tensor:
    """Mean importance per cell (the map is replicate-padded to whole cells).

    Shapes:
        importance: ``[B, 1, H, W]`` → ``[B, 1, ceil(H/cell), ceil(W/cell)]`` float.
    """
    if importance.dim() != 4 or importance.shape[1] != 1:
        raise ValueError(f"importance must have shape [B, 1, H, W], got {tuple(importance.shape)}")
    h, w = importance.shape[-2:]
    m = importance.float().clamp(0, 1)
    ph, pw = (-h) % cell, (-w) % cell
    if ph or pw:
        m = F.pad(m, (0, pw, 0, ph), mode="replicate")
    return F.avg_pool2d(m, cell)


def quantize_levels(cell_imp: torch.Tensor, levels: int) -> torch.Tensor:
    """Cell importance in [0, 1] → integer levels ``round(m·(L-1))``, uint8 of the same shape."""
    if not 2 <= levels <= 256:
        raise ValueError(f"levels must lie in [2, 256], got {levels}")
    return torch.round(cell_imp.clamp(0, 1) * (levels - 1)).to(torch.uint8)


def waterfill(weights: torch.Tensor, total: int, k_max: int) -> torch.Tensor:
    """Integers ``k`` with ``sum(k) == total``, ``0 <= k <= k_max``, ``k`` ∝ ``weights`` where uncapped.

    Water-filling: cells whose share exceeds ``k_max`` are capped and the rest is shared again among
    the others; then largest-remainder rounding (ties to the lower raster index) makes integers.

    Shapes:
        weights: ``[N]`` non-negative → ``[N]`` int64.
    """
    n = weights.numel()
    if total > n * k_max or total < 0:
        raise ValueError(f"cannot place {total} symbols in {n} cells of at most {k_max}")
    w = weights.double().clamp_min(0)
    if float(w.sum()) <= 0:
        w = torch.ones_like(w)
    # Zero-weight cells still take a share once every weighted cell is full.
    w = w.clamp_min(1e-12 * float(w.max()))
    share = torch.zeros_like(w)
    active = torch.ones(n, dtype=torch.bool)
    remaining = float(total)
    while True:
        t = remaining / float(w[active].sum())
        trial = torch.where(active, t * w, share)
        over = active & (trial > k_max)
        if not over.any():
            share = trial
            break
        share = torch.where(over, torch.full_like(w, float(k_max)), share)
        remaining -= k_max * int(over.sum())
        active &= ~over
    base = torch.floor(share + 1e-9).clamp(0, k_max)
    k = base.long()
    rest = total - int(k.sum())
    if rest > 0:
        frac = (share - base).masked_fill(k >= k_max, -1.0)
        # Stable sort: equal remainders go to the lower raster index, on both ends of the link.
        order = torch.sort(-frac, stable=True).indices[:rest]
        k[order] += 1
    elif rest < 0:  # float round-off only; take back from the largest shares
        order = torch.sort(-(share - base), stable=True).indices
        order = order[k[order] > 0][:-rest]
        k[order] -= 1
    return k


def level_weights(levels: torch.Tensor, n_levels: int, concentration: float, floor: float) -> torch.Tensor:
    """``floor + (q / (L-1)) ** concentration`` in float64 (the rule both ends apply)."""
    q = levels.double() / (n_levels - 1)
    return floor + q.pow(concentration)


def allocation_from_levels(
    levels: torch.Tensor,
    budget: int,
    *,
    height: int,
    width: int,
    cell: int = 16,
    k_max: int = 192,
    n_levels: int = 4,
    concentration: float = 1.0,
    floor: float = 0.1,
    reserved: int = 0,
) -> Allocation:
    """The receiver's rule (and the transmitter's): quantised levels + budget → :class:`Allocation`.

    ``reserved`` symbols of the payload go to the codec's own header (see :func:`allocate`).

    Shapes:
        levels: ``[B, 1, Hc, Wc]`` uint8 → ``Allocation.k`` ``[B, 1, Hc, Wc]`` int64.
    """
    hc, wc = _grid(height, width, cell)
    if levels.dim() != 4 or tuple(levels.shape[1:]) != (1, hc, wc):
        raise ValueError(f"levels must have shape [B, 1, {hc}, {wc}], got {tuple(levels.shape)}")
    _check_budget(budget, hc * wc, k_max, reserved)
    ks, side, streams = [], [], []
    for q in levels.cpu():
        bits = encode_side_info(q[0], n_levels)
        streams.append(bits)
        s = side_info_symbols(bits.numel())
        payload = budget - s - reserved
        if payload < 1:
            raise BudgetError(
                f"budget of {budget} symbols cannot hold the side information ({s} symbols"
                + (f" and the codec's {reserved}-symbol header" if reserved else "")
                + "); raise the CBR or use uniform allocation"
            )
        w = level_weights(q.flatten(), n_levels, concentration, floor)
        ks.append(waterfill(w, payload, k_max).view(1, hc, wc))
        side.append(s)
    k = torch.stack(ks).to(levels.device)
    return Allocation(
        k=k,
        budget=budget,
        payload=k.flatten(1).sum(1) + reserved,
        side_info=torch.tensor(side, dtype=torch.int64, device=levels.device),
        height=height,
        width=width,
        cell=cell,
        k_max=k_max,
        levels=levels.to(torch.uint8),
        method="importance",
        side_bits=tuple(streams),
    )


def allocate(
    importance: torch.Tensor,
    budget_symbols: int,
    *,
    cell: int = 16,
    k_max: int = 192,
    concentration: float = 1.0,
    floor: float = 0.1,
    n_levels: int = 4,
    reserved: int = 0,
) -> Allocation:
    """Importance-aware allocation that meets the budget exactly, side information included.

    Args:
        importance: soft importance in [0, 1].
        budget_symbols: channel symbols allowed per image (see :func:`symbol_budget`).
        cell: cell side in pixels.
        k_max: the codec's cap of symbols per cell.
        concentration: exponent on the importance; larger concentrates the budget on the top cells.
        floor: weight every cell gets whatever its importance; the background's share.
        n_levels: quantisation levels of the cell importance sent as side information.
        reserved: payload symbols the codec spends on its own header (IA-JSCC's power gain,
            :attr:`~mllmsc.codec.IAJSCC.header_symbols`); the cells share the rest.

    Returns:
        ``payload + side_info == total == budget`` for every item (``payload == k.sum() + reserved``).

    Raises:
        BudgetError: (a ``ValueError``) a budget ``<= 0``, above ``k_max ×`` cells, or too small
            for the side information.

    Shapes:
        importance: ``[B, 1, H, W]`` → ``k`` ``[B, 1, ceil(H/cell), ceil(W/cell)]``.
    """
    if floor < 0 or concentration <= 0:
        raise ValueError("floor must be >= 0 and concentration > 0")
    height, width = importance.shape[-2:]
    hc, wc = _grid(height, width, cell)
    _check_budget(budget_symbols, hc * wc, k_max, reserved)
    levels = quantize_levels(cell_importance(importance, cell), n_levels)
    return allocation_from_levels(
        levels,
        budget_symbols,
        height=height,
        width=width,
        cell=cell,
        k_max=k_max,
        n_levels=n_levels,
        concentration=concentration,
        floor=floor,
        reserved=reserved,
    )


def allocate_uniform(
    batch: int,
    height: int,
    width: int,
    budget_symbols: int,
    *,
    cell: int = 16,
    k_max: int = 192,
    reserved: int = 0,
) -> Allocation:
    """Uniform allocation: ``floor(P/N)`` per cell, the remainder ``r`` spread evenly.

    Cell ``i`` (raster order) gets one extra symbol when ``floor((i+1)·r/N) > floor(i·r/N)``; the
    receiver knows this rule and the budget, so no side information is sent. ``P`` is the budget
    less the ``reserved`` header symbols of the codec (which count in the payload).

    Shapes:
        → ``k`` ``[batch, 1, ceil(H/cell), ceil(W/cell)]`` int64.
    """
    hc, wc = _grid(height, width, cell)
    n = hc * wc
    _check_budget(budget_symbols, n, k_max, reserved)
    base, r = divmod(budget_symbols - reserved, n)
    i = torch.arange(n)
    k = base + ((i + 1) * r // n - i * r // n)
    k = k.view(1, 1, hc, wc).expand(batch, 1, hc, wc).clone()
    return Allocation(
        k=k,
        budget=budget_symbols,
        payload=k.flatten(1).sum(1) + reserved,
        side_info=torch.zeros(batch, dtype=torch.int64),
        height=height,
        width=width,
        cell=cell,
        k_max=k_max,
        side_bits=tuple(torch.zeros(0, dtype=torch.uint8) for _ in range(batch)),
    )


# ---- side information: the level map as bits ----


def _exp_golomb(n: int) -> list[int]:
    """Order-0 Exp-Golomb code of ``n >= 0``."""
    v = n + 1
    width = v.bit_length()
    return [0] * (width - 1) + [int(b) for b in format(v, "b")]


def _uint(v: int, width: int) -> list[int]:
    return [(v >> (width - 1 - i)) & 1 for i in range(width)]


def encode_side_info(levels: torch.Tensor, n_levels: int) -> torch.Tensor:
    """The level map as bits: a mode bit, then fixed-length or run-length code (the shorter).

    Shapes:
        levels: ``[Hc, Wc]`` integer in [0, n_levels) → 1-D uint8 tensor of 0/1 bits.
    """
    b = _bits_per_level(n_levels)
    flat = [int(v) for v in levels.flatten().tolist()]
    if any(v < 0 or v >= n_levels for v in flat):
        raise ValueError(f"levels must lie in [0, {n_levels})")
    fixed = [0]
    for v in flat:
        fixed += _uint(v, b)
    rle = [1]
    i = 0
    while i < len(flat):
        j = i
        while j + 1 < len(flat) and flat[j + 1] == flat[i]:
            j += 1
        rle += _uint(flat[i], b) + _exp_golomb(j - i)
        i = j + 1
    best = rle if len(rle) < len(fixed) else fixed
    return torch.tensor(best, dtype=torch.uint8)


def decode_side_info(bits: torch.Tensor, grid: tuple[int, int], n_levels: int) -> torch.Tensor:
    """Inverse of :func:`encode_side_info`.

    Shapes:
        bits: 1-D 0/1 → levels ``[Hc, Wc]`` uint8.

    Raises:
        ValueError: bits that do not describe a ``grid`` map.
    """
    b = _bits_per_level(n_levels)
    seq = [int(v) for v in bits.flatten().tolist()]
    n = grid[0] * grid[1]
    if not seq:
        raise ValueError("empty side information")
    pos = 1

    def read(width: int) -> int:
        nonlocal pos
        if pos + width > len(seq):
            raise ValueError("side information ends early")
        v = 0
        for bit in seq[pos : pos + width]:
            v = (v << 1) | bit
        pos += width
        return v

    out: list[int] = []
    if seq[0] == 0:
        out = [read(b) for _ in range(n)]
    else:
        while len(out) < n:
            level = read(b)
            zeros = 0
            while pos < len(seq) and seq[pos] == 0:
                zeros += 1
                pos += 1
            run = read(zeros + 1)  # Exp-Golomb: the value is run length - 1, plus 1
            out += [level] * run
    if len(out) != n or pos != len(seq) or any(v >= n_levels for v in out):
        raise ValueError("side information does not match the grid")
    return torch.tensor(out, dtype=torch.uint8).view(grid)


# ---- allocator blocks: one object per end of the link ----


class Allocator:
    """Turns an importance map and a budget into symbols per cell, at both ends of the link.

    Both ends build the same allocator (the session parameters: cell, ``k_max``, the codec's
    ``reserved`` header symbols and the allocation rule); the receiver reconstructs the
    allocation from the side-information bits alone.

    Args:
        cell: cell side in pixels.
        k_max: the codec's cap of symbols per cell.
        reserved: payload symbols of the codec's own header per image.
    """

    name = ""
    #: Whether the codec should see the importance map (a uniform allocation ignores it).
    uses_importance = True

    def __init__(self, *, cell: int = 16, k_max: int = 192, reserved: int = 0) -> None:
        self.cell, self.k_max, self.reserved = int(cell), int(k_max), int(reserved)

    def allocate(self, importance: torch.Tensor, budget: int) -> Allocation:
        """Transmitter: the allocation of ``budget`` symbols per image.

        Shapes:
            importance: ``[B, 1, H, W]`` in [0, 1] → ``Allocation.k`` ``[B, 1, ceil(H/cell), ceil(W/cell)]``.
        """
        raise NotImplementedError

    def receive(
        self, side_bits: tuple[torch.Tensor, ...], budget: int, height: int, width: int
    ) -> Allocation:
        """Receiver: the same allocation, from the side-information bits of each item.

        Raises:
            ValueError: bits that do not describe this grid.
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(cell={self.cell}, k_max={self.k_max}, reserved={self.reserved})"


ALLOCATORS: Registry[Allocator] = Registry("allocator")


@ALLOCATORS.register("uniform")
class UniformAllocator(Allocator):
    """Every cell gets the same share (:func:`allocate_uniform`); no side information."""

    name = "uniform"
    uses_importance = False

    def allocate(self, importance: torch.Tensor, budget: int) -> Allocation:
        b, _, height, width = importance.shape
        return allocate_uniform(
            b, height, width, budget, cell=self.cell, k_max=self.k_max, reserved=self.reserved
        )

    def receive(
        self, side_bits: tuple[torch.Tensor, ...], budget: int, height: int, width: int
    ) -> Allocation:
        return allocate_uniform(
            len(side_bits), height, width, budget, cell=self.cell, k_max=self.k_max, reserved=self.reserved
        )


@ALLOCATORS.register("importance")
class ImportanceAllocator(Allocator):
    """Importance-aware allocation (:func:`allocate`) with its level map sent as side information.

    Args:
        concentration, floor, n_levels: the allocation rule (see :func:`allocate`).
    """

    name = "importance"

    def __init__(
        self,
        *,
        cell: int = 16,
        k_max: int = 192,
        reserved: int = 0,
        concentration: float = 1.0,
        floor: float = 0.1,
        n_levels: int = 4,
    ) -> None:
        super().__init__(cell=cell, k_max=k_max, reserved=reserved)
        if floor < 0 or concentration <= 0:
            raise ValueError("floor must be >= 0 and concentration > 0")
        self.rule = dict(concentration=float(concentration), floor=float(floor), n_levels=int(n_levels))

    def allocate(self, importance: torch.Tensor, budget: int) -> Allocation:
        return allocate(
            importance, budget, cell=self.cell, k_max=self.k_max, reserved=self.reserved, **self.rule
        )

    def receive(
        self, side_bits: tuple[torch.Tensor, ...], budget: int, height: int, width: int
    ) -> Allocation:
        grid = _grid(height, width, self.cell)
        levels = torch.stack(
            [decode_side_info(bits, grid, self.rule["n_levels"])[None] for bits in side_bits]
        )
        return allocation_from_levels(
            levels, budget, height=height, width=width, cell=self.cell, k_max=self.k_max,
            reserved=self.reserved, **self.rule,
        )  # fmt: skip


def allocator_for(codec, name: str = "importance", **rule) -> Allocator:
    """The allocator ``name`` shaped for ``codec``: its cell, ``k_max`` and header symbols.

    The codec is the one place that knows its header; every caller that allocates for it (the
    link, the trainer, the evaluation) asks here.

    Args:
        codec: anything with ``cell``, ``k_max`` and ``header_symbols`` (an :class:`~mllmsc.codec.IAJSCC`).
        name: a name in :data:`ALLOCATORS`.
        rule: the allocator's own options (``concentration``, ``floor``, ``n_levels``).
    """
    return ALLOCATORS.build(name, cell=codec.cell, k_max=codec.k_max, reserved=codec.header_symbols, **rule)

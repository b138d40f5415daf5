"""Tiles over the cell grid, so IA-JSCC's convolutions on a large image need bounded memory.

A tile is ``tile × tile`` cells (its *inner* part, which it owns) read with a halo of ``halo`` cells
on each side (its *outer* part, clipped to the grid). A network whose receptive field is at most
``halo`` cells gives the inner part the same values as on the whole image, apart from layers that
pool over the whole input (SNR attention, see :class:`mllmsc.codec.model.IAJSCC`). Inner parts
partition the grid::

    ┌──────────────┬───────┐   outer = inner ± halo cells (clipped to the grid)
    │ ┌──────────┐ │       │
    │ │  inner   │ │  ...  │
    │ └──────────┘ │       │
    ├──────────────┼───────┤
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple


class Tile(NamedTuple):
    """One tile, in cells: ``inner`` and ``outer`` are ``(row0, row1, col0, col1)``, end exclusive."""

    inner: tuple[int, int, int, int]
    outer: tuple[int, int, int, int]

    def outer_slices(self, scale: int = 1) -> tuple[slice, slice]:
        """Row and column slices of the outer part on a grid of ``scale`` positions per cell."""
        r0, r1, c0, c1 = self.outer
        return slice(r0 * scale, r1 * scale), slice(c0 * scale, c1 * scale)

    def inner_slices(self, scale: int = 1) -> tuple[slice, slice]:
        """Row and column slices of the inner part on a grid of ``scale`` positions per cell."""
        r0, r1, c0, c1 = self.inner
        return slice(r0 * scale, r1 * scale), slice(c0 * scale, c1 * scale)

    def inner_in_outer(self, scale: int = 1) -> tuple[slice, slice]:
        """Where the inner part lies inside a tensor that holds the outer part."""
        (r0, r1, c0, c1), (o_r, _, o_c, _) = self.inner, self.outer
        return slice((r0 - o_r) * scale, (r1 - o_r) * scale), slice((c0 - o_c) * scale, (c1 - o_c) * scale)


def tiles(grid: tuple[int, int], tile: int, halo: int) -> Iterator[Tile]:
    """The tiles covering a ``(rows, cols)`` cell grid, row by row.

    Args:
        grid: ``(Hc, Wc)``, cells.
        tile: side of a tile's inner part, cells (the last row and column of tiles may be smaller).
        halo: cells read on each side of the inner part.
    """
    if tile < 1 or halo < 0:
        raise ValueError(f"tile must be positive and halo >= 0, got tile={tile}, halo={halo}")
    rows, cols = grid
    for r0 in range(0, rows, tile):
        for c0 in range(0, cols, tile):
            r1, c1 = min(r0 + tile, rows), min(c0 + tile, cols)
            outer = (max(r0 - halo, 0), min(r1 + halo, rows), max(c0 - halo, 0), min(c1 + halo, cols))
            yield Tile((r0, r1, c0, c1), outer)

"""What every evaluation grid shares: seeded rows, a resumable results.csv, worker pools, intervals.

    grid rows (each with a ``key``: its settings as written in results.csv)
        ──► row_seed(base, key)            a row's seed depends on the base seed and the row alone
        ──► map_rows(factory, spec, rows)  in this process, or N spawn workers (one runner each)
        ──► run_rows(path, ...)            results.csv: rows already there are kept, new ones are
                                           appended, flushed and fsynced one by one (a killed run
                                           resumes), then the file is rewritten in grid order
        ──► mean_ci95, save_figure         summaries and plots

:mod:`mllmsc.eval.sweep` (transmission) and :mod:`mllmsc.eval.vqa` (visual question answering)
are both built from these pieces, so resuming, seeding and parallelism behave the same in each.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import statistics
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import torch

from mllmsc.atomic import atomic_write_bytes, atomic_write_text
from mllmsc.errors import UserError


class GridRow(Protocol):
    """A row of a grid: its identity in results.csv (the key columns, as written there)."""

    @property
    def key(self) -> tuple[str, ...]: ...


def num(value: float) -> str:
    """A number as results.csv writes it (``repr`` of the float: exact, so keys compare equal)."""
    return repr(float(value))


def finite(value: float | None) -> str:
    """A metric as a CSV cell: six decimals, or empty when it is missing or not finite."""
    return "" if value is None or not math.isfinite(value) else f"{value:.6f}"


def row_seed(base: int, key: Sequence[str]) -> int:
    """A 63-bit seed from the run's seed and a row's key alone (so order and workers do not matter)."""
    text = "|".join((str(base), *key)).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big") >> 1


def read_rows(path: Path, columns: Sequence[str], *, what: str) -> list[dict[str, str]]:
    """The complete rows of a results.csv; ``[]`` when there is none.

    A row is complete when its line ends with a newline, it has every column and its last column
    is filled: a line cut by a kill is dropped (and redone by the resumed run).

    Raises:
        UserError: the file has other columns (written by another version or another task).
    """
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]  # the torn last line
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if text and reader.fieldnames != list(columns):
        raise UserError(f"{path} was written by another version of the {what}; use a new --out")
    last = columns[-1]
    return [r for r in reader if None not in r.values() and r.get(last)]


def write_rows(path: Path, columns: Sequence[str], rows: Iterable[dict[str, str]]) -> None:
    """Write a results.csv (header and ``rows``) atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def run_rows(
    path: Path,
    columns: Sequence[str],
    key_columns: Sequence[str],
    rows: Sequence[GridRow],
    compute: Callable[[list[GridRow]], Iterable[dict[str, str]]],
    *,
    what: str,
    progress: Callable[[int, int], None] | None = None,
) -> list[dict[str, str]]:
    """Compute every row of ``rows`` not yet in ``path``; returns all of them, in grid order.

    Args:
        path: the results.csv (resumed when present).
        columns: its columns; ``key_columns`` of a result must equal the ``key`` of its row.
        rows: the grid.
        compute: the results of the rows it is given (any order).
        what: the harness's name, for the error on a foreign file.
        progress: called with (done, total) before the first new row and after each.
    """
    done = {tuple(r[c] for c in key_columns): r for r in read_rows(path, columns, what=what)}
    write_rows(path, columns, done.values())  # drop a torn last line before appending
    todo = [r for r in rows if r.key not in done]
    if progress:
        progress(len(rows) - len(todo), len(rows))
    with path.open("a", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), lineterminator="\n")
        for result in compute(todo):
            writer.writerow(result)
            # per row: a kill (or a power cut) loses at most the row being written
            f.flush()
            os.fsync(f.fileno())
            done[tuple(result[c] for c in key_columns)] = result
            if progress:
                progress(len(done), len(rows))
    ordered = [done[r.key] for r in rows]
    write_rows(path, columns, ordered)
    return ordered


def map_rows(
    factory: Callable[[Any], Callable[[Any], dict[str, str]]],
    spec: Any,
    rows: list[Any],
    workers: int,
    *,
    chunksize: int = 1,
) -> Iterator[dict[str, str]]:
    """``factory(spec)(row)`` for every row, in order: here, or in ``workers`` spawn processes.

    Args:
        factory: builds a process's runner from ``spec`` (a module-level class or function, so a
            spawn worker can import it); each process builds one and reuses it for its rows.
        spec: what the runner needs (picklable).
        rows: the rows (picklable).
        workers: processes; 1 runs in this process.
        chunksize: rows handed to a worker at a time (keep rows that share a cache together).
    """
    if workers <= 1 or len(rows) <= 1:
        runner = factory(spec)
        yield from (runner(r) for r in rows)
        return
    import multiprocessing as mp

    # spawn: a fork of a process that already ran torch/Sionna threads can deadlock
    with mp.get_context("spawn").Pool(workers, initializer=_init_worker, initargs=(factory, spec)) as pool:
        yield from pool.imap(_work, rows, chunksize=max(1, chunksize))


_WORKER: Callable[[Any], dict[str, str]] | None = None


def _init_worker(factory: Callable[[Any], Callable[[Any], dict[str, str]]], spec: Any) -> None:
    global _WORKER
    torch.set_num_threads(1)  # N workers on N cores; more threads each would oversubscribe them
    _WORKER = factory(spec)


def _work(row: Any) -> dict[str, str]:
    assert _WORKER is not None
    return _WORKER(row)


def mean_ci95(values: Sequence[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95 % Student-t interval (NaN: no values / fewer than two)."""
    from scipy import stats

    mean = statistics.fmean(values) if values else float("nan")
    half = float("nan")
    if len(values) >= 2:
        half = stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return mean, half


def save_figure(fig: Any, plt: Any, path: Path) -> Path:
    """Save a matplotlib figure as PNG atomically and close it; returns ``path``."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return path

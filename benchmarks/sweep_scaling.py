"""Sweep wall time against workers: one method, Kodak, AWGN, SNR {1..13} × CBR {1/48..1/8}.

    .venv/bin/python benchmarks/sweep_scaling.py                       # 24 images; serial, 2 workers, Ray
    .venv/bin/python benchmarks/sweep_scaling.py --images 4 --modes 1,2 --no-write

Each mode runs the same grid from scratch into its own folder (``serial`` = ``--workers 1``,
``2`` = ``--workers 2`` local processes, ``ray2`` = ``--ray local --workers 2``) and the results
are checked to be identical (all columns but ``time_ms``). Writes the ``<!-- sweep-scaling -->``
section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _report import replace_section  # noqa: E402

from mllmsc.eval.sweep import SweepSpec, run_sweep  # noqa: E402

MODES = {"1": (1, None), "2": (2, None), "ray2": (2, "local")}
LABELS = {"1": "`--workers 1`", "2": "`--workers 2`", "ray2": "`--ray local --workers 2`"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "kodak")
    parser.add_argument("--images", type=int, default=24, help="first N images of the folder")
    parser.add_argument("--method", default="uniform-jscc")
    parser.add_argument("--modes", default="1,2,ray2")
    parser.add_argument("--no-write", action="store_true", help="print only, leave BENCHMARKS.md")
    args = parser.parse_args()

    torch.set_num_threads(1)  # the serial run on one core, as each worker
    names = sorted(p.name for p in args.data.glob("*.png"))[: args.images]
    times, results = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "img"
        data.mkdir()
        for name in names:
            (data / name).symlink_to((args.data / name).resolve())
        spec = SweepSpec(
            data=data, methods=(args.method,), channels=("awgn",), snrs=(1.0, 4.0, 7.0, 10.0, 13.0),
            cbrs=(1 / 48, 1 / 24, 1 / 16, 1 / 12, 1 / 8),
        )  # fmt: skip
        for mode in args.modes.split(","):
            workers, ray = MODES[mode]
            start = time.perf_counter()
            rows = run_sweep(spec, Path(tmp) / f"out-{mode}", workers=workers, ray=ray)
            times[mode] = time.perf_counter() - start
            results[mode] = [{k: v for k, v in r.items() if k != "time_ms"} for r in rows]
            print(f"{mode}: {len(rows)} rows in {times[mode]:.0f} s", file=sys.stderr, flush=True)
    first = next(iter(results))
    same = all(results[m] == results[first] for m in results)
    base = times.get("1")
    table = ["| run | wall time | rows / s | speed-up |", "|---|---|---|---|"]
    for mode, seconds in times.items():
        n = len(results[mode])
        speedup = f"{base / seconds:.2f}×" if base else "—"
        table.append(f"| {LABELS[mode]} | {seconds / 60:.1f} min | {n / seconds:.2f} | {speedup} |")
    markdown = "\n".join(
        [
            "## Sweep wall time and workers",
            "",
            f"`python benchmarks/sweep_scaling.py --images {args.images}`: `{args.method}`, "
            f"{len(names)} Kodak images × AWGN × SNR {{1, 4, 7, 10, 13}} dB × CBR {{1/48, 1/24, 1/16, "
            f"1/12, 1/8}} = {len(results[first])} rows, each mode from scratch on this 2-core CPU "
            "(one torch thread per worker; the serial run uses one thread too).",
            "",
            *table,
            "",
            "Results identical across modes (every column but `time_ms`): "
            + ("**yes**." if same else "**NO** — a bug."),
        ]
    )
    print(markdown)
    if not same:
        raise SystemExit("results differ between modes")
    if not args.no_write:
        replace_section("sweep-scaling", markdown)


if __name__ == "__main__":
    main()

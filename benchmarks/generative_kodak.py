"""The generative decoder on Kodak: every mode against the fast decoder and the digital links.

    .venv/bin/python benchmarks/generative_kodak.py --workers 2                  # all 24 images (hours)
    .venv/bin/python benchmarks/generative_kodak.py --images kodim01.png,kodim04.png --no-write

The issue-15 grid: AWGN at SNR {0, 3, 6, 9, 12} dB and Rayleigh at {0, 3} dB (where the digital
link loses images), CBR 1/384 and 1/96, methods ``generative-fast`` (= ``uniform-jscc``: the JSCC
decoder alone), ``generative-balanced``, ``generative-quality``, ``digital`` and
``digital-capacity``, with the perceptual metrics (VIF, NIQE; LPIPS and DISTS where their weights
are present). Runs ``mllmsc eval`` (:func:`mllmsc.eval.sweep.run_sweep`, resumable) into ``--out``
(default ``runs/generative-kodak-paired``), with common seeds (every method of a setting meets the same
noise and, on Rayleigh, the same fade), then writes ``benchmarks/results/generative_kodak_summary.csv``
and the ``generative-kodak`` section of BENCHMARKS.md: per setting PSNR / NIQE / VIF and the mean
wall time per image (link + decoder, this CPU), the originals' NIQE, and the paper's numbers
labelled as published.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _report import replace_section  # noqa: E402

from mllmsc.eval.refseg import write_csv  # noqa: E402
from mllmsc.eval.sweep import SweepSpec, run_sweep, summarize  # noqa: E402

METHODS = ("generative-fast", "generative-balanced", "generative-quality", "digital", "digital-capacity")
GRIDS = {"awgn": (0.0, 3.0, 6.0, 9.0, 12.0), "rayleigh": (0.0, 3.0)}
CBRS = (1 / 384, 1 / 96)
# MLLM-SC (arXiv 2507.04621), case study 2: Stable Diffusion on LSUN, AWGN 12 dB.
PAPER = "20.76 dB PSNR at 12 dB SNR, +5.74 dB over its baselines (SD 2.1, LSUN; published, not rerun)"


def sweep(args, names: list[str], channel: str) -> tuple[list[dict[str, str]], float]:
    """Run (or resume) one channel's grid over ``names``; its rows and wall time."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        for name in names:
            (data / name).symlink_to((args.data / name).resolve())
        spec = SweepSpec(
            data=data, methods=METHODS, channels=(channel,), snrs=GRIDS[channel], cbrs=CBRS,
            metrics=("vif", "niqe", "lpips", "dists"), common_seeds=True,
        )  # fmt: skip
        start = time.perf_counter()
        last = [0.0]

        def progress(done: int, total: int) -> None:
            if time.perf_counter() - last[0] > 60 or done == total:
                last[0] = time.perf_counter()
                print(
                    f"[{channel} {last[0] - start:6.0f} s] {done}/{total} rows", file=sys.stderr, flush=True
                )

        rows = run_sweep(spec, args.out / channel, workers=args.workers, progress=progress)
    return rows, time.perf_counter() - start


def fmt(value: str, digits: int = 2) -> str:
    return f"{float(value):.{digits}f}" if value not in ("", "nan", None) else "—"


def table(summary: list[dict[str, str]], times: dict[tuple[str, str], float], channel: str) -> list[str]:
    """Rows: method × CBR; columns: SNRs, each ``PSNR / NIQE / VIF``; then ms per image."""
    by = {(s["method"], s["channel"], float(s["snr_db"]), float(s["cbr"])): s for s in summary}
    snrs = GRIDS[channel]
    lines = [
        "| method | CBR | " + " | ".join(f"{s:g} dB" for s in snrs) + " | s / image |",
        "|---|---|" + "---|" * (len(snrs) + 1),
    ]
    for method in METHODS:
        for cbr in CBRS:
            cells = []
            for snr in snrs:
                s = by.get((method, channel, snr, cbr))
                if s is None:
                    cells.append("—")
                    continue
                lost = int(s["lost"])
                cell = f"{fmt(s['psnr'])} / {fmt(s['niqe'])} / {fmt(s['vif'], 3)}"
                cells.append(cell + (f" ({lost} lost)" if lost else ""))
            seconds = times.get((method, channel), float("nan")) / 1000
            lines.append(f"| `{method}` | 1/{round(1 / cbr)} | " + " | ".join(cells) + f" | {seconds:.1f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "kodak")
    parser.add_argument("--images", default="", help="comma-separated file names (default: all)")
    parser.add_argument("--channels", default="awgn,rayleigh")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "generative-kodak-paired")
    parser.add_argument("--no-write", action="store_true", help="print only, leave BENCHMARKS.md")
    args = parser.parse_args()

    names = args.images.split(",") if args.images else sorted(p.name for p in args.data.glob("*.png"))
    channels = args.channels.split(",")
    results, walls = [], {}
    for channel in channels:
        rows, walls[channel] = sweep(args, names, channel)
        results += rows
    summary = summarize(results)
    times: dict[tuple[str, str], list[float]] = {}
    for r in results:
        times.setdefault((r["method"], r["channel"]), []).append(float(r["time_ms"]))
    mean_times = {k: sum(v) / len(v) for k, v in times.items()}
    write_csv(ROOT / "benchmarks" / "results" / "generative_kodak_summary.csv", summary)

    from mllmsc.eval.metrics import niqe
    from mllmsc.train.codec import load_eval_images

    originals = [float(niqe(x)[0]) for x in load_eval_images(args.data, tuple(names))]
    lines = [
        "### The generative decoder on Kodak (issue 15's grid)",
        "",
        f"`python benchmarks/generative_kodak.py --workers {args.workers}"
        + (f" --images {','.join(names)}`" if len(names) != 24 else "`")
        + f" ({len(names)} Kodak images; {len(results)} rows; "
        + ", ".join(f"{c} {walls[c] / 60:.0f} min" for c in channels)
        + " on the shared 2-core CPU; common seeds: the methods of a setting meet the same noise and "
        "fade). Each cell: PSNR dB / NIQE (lower is more natural) / VIF. "
        f"The originals' NIQE: {sum(originals) / len(originals):.2f}. `generative-fast` is the JSCC "
        "decoder alone (`uniform-jscc`); `balanced` and `quality` add the shipped refiner "
        "(`src/mllmsc/weights/generative-refiner`, modes in `src/mllmsc/decoder/generative.py`). "
        "Digital: HEIF + 5G LDPC + QAM at the best MCS, `digital-capacity` its capacity bound; a lost "
        "image is mid-grey and counted in PSNR and VIF; NIQE, undefined on a flat image, averages the images "
        "that arrived. s / image: mean wall time per image of link + decoder on "
        "this CPU (2 workers sharing 2 cores). LPIPS and DISTS: no local weights here (null).",
        "",
    ]
    for channel in channels:
        lines += [f"#### {channel}", "", *table(summary, mean_times, channel), ""]
    lines += [f"Paper (MLLM-SC case study 2): {PAPER}."]
    markdown = "\n".join(lines)
    print(markdown)
    if not args.no_write:
        replace_section("generative-kodak", markdown)


if __name__ == "__main__":
    main()

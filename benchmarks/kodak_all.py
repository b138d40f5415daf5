"""Every method side by side on Kodak: AWGN and Rayleigh, SNR {1..13} dB × CBR {1/48..1/8}.

    .venv/bin/python benchmarks/kodak_all.py --workers 2               # the full grid (hours)
    .venv/bin/python benchmarks/kodak_all.py --images kodim01.png,kodim05.png --no-write

Runs ``mllmsc eval`` (:func:`mllmsc.eval.sweep.run_sweep`, resumable: a killed run continues) into
``--out`` (default ``runs/kodak-all``, not committed), then writes the mean PSNR per method ×
channel × SNR × CBR into the ``<!-- kodak-all -->`` section of BENCHMARKS.md and
``benchmarks/results/kodak_all_summary.csv``. ``ia-jscc`` sends a centred ROI box of 25 % of the
image as its importance map (so it pays side information); the other methods do not use it.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _report import replace_section  # noqa: E402

from mllmsc.eval.refseg import write_csv  # noqa: E402
from mllmsc.eval.sweep import SweepSpec, read_results, run_sweep, summarize  # noqa: E402

METHODS = ("uniform-jscc", "ia-jscc", "deep-jscc", "digital", "digital-jpeg", "digital-capacity")
SNRS = (1.0, 4.0, 7.0, 10.0, 13.0)
CBRS = (1 / 48, 1 / 24, 1 / 16, 1 / 12, 1 / 8)
CBR_NAMES = {1 / 48: "1/48", 1 / 24: "1/24", 1 / 16: "1/16", 1 / 12: "1/12", 1 / 8: "1/8"}
# Published, different training data and codecs (issue 5; DESIGN.md): CBR 1/16, AWGN 10 dB.
ANCHORS = {"Deep JSCC (WITT authors' retraining)": "≈ 31.5", "SwinJSCC": "33.17", "WITT": "≈ 33.6",
           "BPG + 5G LDPC": "≈ 33.3", "BPG + capacity": "≈ 34.6"}  # fmt: skip


def centre_box_masks(images: list[Path], folder: Path, fraction: float = 0.25) -> None:
    """A centred box covering ``fraction`` of each image, as ``folder/<stem>.png``."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in images:
        with Image.open(path) as im:
            w, h = im.size
        bw, bh = round(w * fraction**0.5), round(h * fraction**0.5)
        mask = np.zeros((h, w), np.uint8)
        mask[(h - bh) // 2 : (h + bh) // 2, (w - bw) // 2 : (w + bw) // 2] = 255
        Image.fromarray(mask).save(folder / f"{path.stem}.png")


def table(summary: list[dict[str, str]], channel: str, methods: list[str]) -> list[str]:
    """Markdown rows: one per method × CBR, SNRs as columns; ``lost`` images noted for digital."""
    by_key = {(s["method"], s["channel"], float(s["snr_db"]), float(s["cbr"])): s for s in summary}
    rows = [
        "| method | CBR | " + " | ".join(f"{s:g} dB" for s in SNRS) + " |",
        "|---|---|" + "---|" * len(SNRS),
    ]
    for method in methods:
        for cbr in CBRS:
            cells = []
            for snr in SNRS:
                s = by_key.get((method, channel, snr, cbr))  # results.csv writes repr(float): exact
                if s is None:
                    cells.append("—")
                    continue
                lost = int(s["lost"])
                cells.append(f"{float(s['psnr']):.2f}" + (f" ({lost} lost)" if lost else ""))
            rows.append(f"| `{method}` | {CBR_NAMES[cbr]} | " + " | ".join(cells) + " |")
    return rows


def _run(args, names: list[str], methods: list[str], channels: tuple[str, ...]) -> tuple[list, float]:
    """The sweep over ``names`` (resumed from ``args.out``); returns its rows and wall time."""
    with tempfile.TemporaryDirectory() as tmp:
        data, masks = Path(tmp) / "img", Path(tmp) / "roi"
        data.mkdir()
        for name in names:  # links keep the chosen subset without copying pixels
            (data / name).symlink_to((args.data / name).resolve())
        centre_box_masks(sorted(data.iterdir()), masks)
        spec = SweepSpec(data=data, methods=tuple(methods), channels=channels, snrs=SNRS, cbrs=CBRS,
                         roi_masks=masks)  # fmt: skip
        start = time.perf_counter()
        last = [0.0]

        def progress(done: int, total: int) -> None:
            if time.perf_counter() - last[0] > 60 or done == total:
                last[0] = time.perf_counter()
                print(f"[{last[0] - start:6.0f} s] {done}/{total} rows", file=sys.stderr, flush=True)

        results = run_sweep(spec, args.out, workers=args.workers, progress=progress)
    return results, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "kodak")
    parser.add_argument("--images", default="", help="comma-separated file names (default: all)")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--channels", default="awgn,rayleigh")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "kodak-all")
    parser.add_argument("--no-write", action="store_true", help="print only, leave BENCHMARKS.md")
    parser.add_argument(
        "--keep-others",
        action="store_true",
        help="rerun only --methods and keep the committed summary rows of every other method "
        "(e.g. new codec weights: the digital rows do not change)",
    )
    parser.add_argument(
        "--summarize-only",
        action="store_true",
        help="run nothing: tabulate the images of --out/results.csv that have every row of the grid",
    )
    args = parser.parse_args()

    methods = args.methods.split(",")
    channels = tuple(args.channels.split(","))
    names = args.images.split(",") if args.images else sorted(p.name for p in args.data.glob("*.png"))
    wall = None
    if args.summarize_only:
        per_image = len(methods) * len(channels) * len(SNRS) * len(CBRS)
        rows = read_results(args.out / "results.csv")
        counts = Counter(r["image"] for r in rows)
        names = sorted(n for n, c in counts.items() if c == per_image)
        results = [r for r in rows if r["image"] in names]
    else:
        results, wall = _run(args, names, methods, channels)
    if not results:
        raise SystemExit(f"no image of {args.out / 'results.csv'} has every row of the grid yet")
    summary = summarize(results)
    summary_csv = ROOT / "benchmarks" / "results" / "kodak_all_summary.csv"
    kept: list[str] = []
    if args.keep_others and summary_csv.is_file():
        with summary_csv.open(newline="", encoding="utf-8") as f:
            # rows written before summary.csv had a column (roi_n, the perceptual metrics) get it empty
            fields = list(summary[0]) if summary else []
            rows = [r for r in csv.DictReader(f) if r["method"] not in methods]
            others = [{k: r.get(k, "") for k in fields or r} for r in rows]
        kept = sorted({r["method"] for r in others}, key=METHODS.index)
        summary = [*others, *summary]
        methods = [m for m in METHODS if m in {*methods, *kept}]
    write_csv(summary_csv, summary)

    lines = [
        "## All methods on Kodak (AWGN and Rayleigh, SNR × CBR)",
        "",
        f"`python benchmarks/kodak_all.py --workers {args.workers}` ({len(names)} Kodak images"
        + ("" if len(names) == 24 else f": {', '.join(names)}")
        + f"; {len(results)} rows"
        + (f"; this run's wall time {wall / 60:.0f} min on the shared 2-core CPU" if wall else "")
        + "). "
        "Mean PSNR in dB (RGB in [0, 1]). `uniform-jscc` / `ia-jscc` are the shipped IA-JSCC weights "
        "(`ia-jscc` with a centred 25 % ROI box as its map, side information counted in the budget); "
        "`deep-jscc` is the CNN of Bourtsoulatze et al. with ADJSCC attention, trained here with the "
        "same data and CPU hours as IA-JSCC (`configs/deep_jscc.toml`); "
        "`digital` = HEIF + 5G LDPC + QAM, `digital-jpeg` = JPEG + the same, `digital-capacity` = HEIF "
        "at `symbols · log2(1 + SNR)` bits (ergodic capacity for Rayleigh). Rayleigh: block fading, one "
        "`h` per image, perfect CSI, MMSE equalisation for JSCC; the digital link uses the same channel. "
        "A lost image (CRC failure) is mid-grey and counted."
        + (
            f" Rows of {', '.join(f'`{m}`' for m in kept)} are kept from the previous run "
            "(`--keep-others`: the same weights and seeds as then; only the methods named were rerun)."
            if kept
            else ""
        ),
        "",
    ]
    for channel in channels:
        lines += [f"### {channel}", "", *table(summary, channel, methods), ""]
    lines += [
        "Published anchors at CBR 1/16, AWGN 10 dB (their own training data and codecs, not rerun here):",
        "",
        "| method | PSNR (dB) |",
        "|---|---|",
        *[f"| {k} (published) | {v} |" for k, v in ANCHORS.items()],
    ]
    markdown = "\n".join(lines)
    print(markdown)
    if not args.no_write:
        replace_section("kodak-all", markdown)


if __name__ == "__main__":
    main()

"""Peak memory and wall time of ``mllmsc transmit`` against image size (issue 13, "Memory").

    .venv/bin/python benchmarks/memory.py                        # 0.4 … 16 Mpx, stops past ~120 s
    .venv/bin/python benchmarks/memory.py --sizes 0.4,1,2 --no-write

For each size it writes a synthetic image (Kodak ``kodim23`` resized to that many megapixels,
3:2 landscape, when ``../shared/data/kodak`` exists, else a smooth gradient with noise), runs
``mllmsc transmit IMG --out DIR --snr 10 --cbr 1/16`` (default guidance, AWGN) as a child process
and records its peak resident set size (``ru_maxrss`` of that one child, from ``os.wait4``) and
wall time. The rows go to ``benchmarks/results/memory.csv`` (``--csv``; ``--from-csv`` only
tabulates it), a Markdown table to stdout and, unless ``--no-write``, the ``<!-- memory -->``
section of BENCHMARKS.md. Sizes are run
smallest first; once a run takes more than ``--max-seconds`` the larger ones are skipped.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _report import replace_section  # noqa: E402

from mllmsc.eval.refseg import write_csv  # noqa: E402
from mllmsc.limits import MAX_PIXELS  # noqa: E402

KODAK = ROOT.parent / "shared" / "data" / "kodak"
SIZES_MPX = (0.4, 1.0, 2.0, 4.0, 9.0, 16.0)
COMMAND = ["transmit", "--snr", "10", "--cbr", "1/16"]
# Measured with this script before the codec was tiled and MS-SSIM computed in strips (issue 13).
BEFORE = (
    "0.39 Mpx 934 MiB (11.8 s), 1.0 Mpx 1451 MiB, 2.0 Mpx 2342 MiB, 4.0 Mpx 3804 MiB, "
    "9.0 Mpx 7791 MiB (102 s)"
)


def image_size(megapixels: float) -> tuple[int, int]:
    """``(width, height)`` of a 3:2 landscape image of about ``megapixels`` Mpx, sides multiples of 16."""
    height = math.sqrt(megapixels * 1e6 * 2 / 3)
    return 16 * round(1.5 * height / 16), 16 * round(height / 16)


def synthetic_image(width: int, height: int, path: Path) -> str:
    """Write a natural-looking ``width × height`` PNG to ``path``; returns what it was made from."""
    source = KODAK / "kodim23.png"
    if source.is_file():
        with Image.open(source) as im:
            im.convert("RGB").resize((width, height), Image.Resampling.BICUBIC).save(path)
        return "Kodak kodim23, bicubic resize"
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = np.stack([x / width, y / height, 0.5 + 0.25 * np.sin(x / 37.0) * np.cos(y / 53.0)], axis=-1)
    rgb += np.random.default_rng(0).normal(0, 0.03, rgb.shape).astype(np.float32)
    Image.fromarray((rgb.clip(0, 1) * 255).round().astype(np.uint8)).save(path)
    return "gradient + sine + Gaussian noise (σ = 0.03)"


def run_transmit(image: Path, out: Path) -> tuple[int, float, float, dict | None]:
    """Run ``mllmsc transmit`` on ``image``; ``(exit code, peak RSS in MiB, seconds, report)``."""
    cmd = [sys.executable, "-m", "mllmsc", COMMAND[0], str(image), "--out", str(out), *COMMAND[1:]]
    start = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage, not the max over all
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    stderr = child.stderr.read().decode(errors="replace") if child.stderr else ""
    if child.returncode != 0:
        print(stderr.strip().splitlines()[-1] if stderr.strip() else "(no stderr)", file=sys.stderr)
    report_path = out / "report.json"
    report = json.loads(report_path.read_text()) if child.returncode == 0 and report_path.is_file() else None
    return child.returncode, usage.ru_maxrss / 1024, seconds, report  # ru_maxrss is in KiB on Linux


def slope(rows: list[dict[str, str]]) -> float:
    """MiB of peak RSS per megapixel between the first and the last successful size."""
    done = [r for r in rows if r["exit_code"] == "0"]
    first, last = done[0], done[-1]
    mpx = float(last["megapixels"]) - float(first["megapixels"])
    return (float(last["peak_rss_mib"]) - float(first["peak_rss_mib"])) / mpx if mpx else float("nan")


def markdown(rows: list[dict[str, str]], source: str) -> str:
    lines = [
        "## Memory and time against image size",
        "",
        "`.venv/bin/python benchmarks/memory.py` — `mllmsc transmit IMG --out DIR --snr 10 --cbr 1/16` "
        f"(default guidance, AWGN) as a child process per size; image: {source}; peak RSS is the child's "
        "`ru_maxrss`, wall time includes start-up (imports, weights). IA-JSCC runs its encoder and "
        "refiner in tiles of 64×64 cells (1024 px) beyond that size "
        "(`mllmsc.codec.model.IAJSCC.tile_cells`). "
        f"Images above `mllmsc.limits.MAX_PIXELS` = {MAX_PIXELS:,} pixels are refused (exit code 2).",
        "",
        "Before tiling the peak grew ~830 MiB per Mpx: " + BEFORE + ". Now MS-SSIM runs in row strips "
        "(`mllmsc.eval.metrics.ms_ssim_strips`, equal to torchmetrics to 1e-6) and the peak grows "
        f"~{slope(rows):.0f} MiB per Mpx between the smallest and the largest size here (image, "
        "guidance map, per-cell LMMSE, float64 PSNR).",
        "",
        "| size | Mpx | peak RSS (MiB) | wall time (s) | PSNR (dB) | exit code |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['width']}×{r['height']} | {r['megapixels']} | {r['peak_rss_mib']} | {r['seconds']} "
            f"| {r['psnr'] or '—'} | {r['exit_code']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(f"{s:g}" for s in SIZES_MPX), help="megapixels, LIST")
    parser.add_argument("--max-seconds", type=float, default=120.0, help="skip larger sizes after this")
    parser.add_argument("--csv", type=Path, default=ROOT / "benchmarks" / "results" / "memory.csv")
    parser.add_argument("--no-write", action="store_true", help="do not touch BENCHMARKS.md")
    parser.add_argument("--from-csv", action="store_true", help="run nothing: tabulate --csv")
    args = parser.parse_args()

    if args.from_csv:
        with args.csv.open(newline="") as f:
            rows = list(csv.DictReader(f))
        source = "Kodak kodim23, bicubic resize" if KODAK.is_dir() else "synthetic"
        text = markdown(rows, source)
        print(text)
        if not args.no_write:
            replace_section("memory", text)
        return

    rows: list[dict[str, str]] = []
    source = ""
    with tempfile.TemporaryDirectory() as tmp:
        for mpx in sorted(float(s) for s in args.sizes.split(",")):
            width, height = image_size(mpx)
            image = Path(tmp) / f"image_{width}x{height}.png"
            source = synthetic_image(width, height, image)
            code, rss, seconds, report = run_transmit(image, Path(tmp) / f"out_{width}x{height}")
            psnr = report["metrics"]["psnr"] if report else None
            rows.append({
                "width": str(width), "height": str(height), "megapixels": f"{width * height / 1e6:.2f}",
                "peak_rss_mib": f"{rss:.0f}", "seconds": f"{seconds:.1f}",
                "psnr": "" if psnr is None else f"{psnr:.2f}", "exit_code": str(code),
            })  # fmt: skip
            print(" ".join(f"{k}={v}" for k, v in rows[-1].items()), file=sys.stderr, flush=True)
            image.unlink()
            if seconds > args.max_seconds:
                break
    write_csv(args.csv, rows)
    text = markdown(rows, source)
    print(text)
    if not args.no_write:
        replace_section("memory", text)


if __name__ == "__main__":
    main()

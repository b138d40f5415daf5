"""Learning curve of the IA-JSCC training run: held-out Kodak PSNR against training hours.

    .venv/bin/python benchmarks/learning_curve.py [--log runs/codec/log.csv]

The training loop logs, every `eval_minutes`, the PSNR of its EMA weights on four Kodak images
(kodim01/05/15/23; Kodak is never trained on) with uniform allocation, AWGN 10 dB, CBR 1/16. This
script copies those rows into `benchmarks/results/codec_learning_curve.csv` (committed, so the curve
survives the run folder) and writes the `learning-curve` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path

from _report import replace_section

from mllmsc.atomic import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
CURVE = ROOT / "benchmarks" / "results" / "codec_learning_curve.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--log", type=Path, default=ROOT / "runs" / "codec" / "log.csv")
    parser.add_argument(
        "--fresh", action="store_true", help="a new model: drop the committed curve, keep this log's rows"
    )
    args = parser.parse_args()
    previous = list(csv.DictReader(CURVE.open())) if CURVE.exists() and not args.fresh else []
    with args.log.open(newline="") as f:
        fresh = [
            {"step": r["step"], "hours": r["hours"], "kodak_psnr": r["kodak_psnr"]}
            for r in csv.DictReader(f)
            if r.get("kodak_psnr")
        ]
    # One row per step: a resumed run re-logs steps after its checkpoint; keep the newest.
    rows = {int(r["step"]): r for r in [*previous, *fresh]}
    ordered = [rows[s] for s in sorted(rows)]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["step", "hours", "kodak_psnr"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(ordered)
    atomic_write_text(CURVE, buffer.getvalue())

    lines = [
        "## IA-JSCC learning curve",
        "",
        "`python benchmarks/learning_curve.py` — EMA weights during "
        "`mllmsc train --preset configs/codec.toml` on 2 CPU cores (hours count the training steps "
        "only, on a CPU shared with other work part of the time); PSNR on kodim01/05/15/23, uniform "
        "allocation, AWGN 10 dB, CBR 1/16. Step 0 is the linear code alone (KLT fitted to the training "
        "patches, neural residuals at zero). Data: `benchmarks/results/codec_learning_curve.csv`.",
        "",
        "| step | training hours | Kodak PSNR (dB) |",
        "|---|---|---|",
        *(f"| {r['step']} | {float(r['hours']):.2f} | {float(r['kodak_psnr']):.2f} |" for r in ordered),
    ]
    replace_section("learning-curve", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

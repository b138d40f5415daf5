"""Digital separation baselines on Kodak: HEIF/JPEG over an ideal code and over 5G LDPC + QAM.

    .venv/bin/python benchmarks/digital.py                 # 24 images, CBR 1/16, AWGN 1…13 dB
    .venv/bin/python benchmarks/digital.py --images 6 --no-write

Mean of per-image PSNR (RGB in [0, 1]); a lost image counts with its mid-grey PSNR and is
counted in the ``lost`` column. Writes its section of BENCHMARKS.md (``<!-- digital -->``).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _report import replace_section  # noqa: E402

from mllmsc.baselines import DigitalBaseline, EncodeCache  # noqa: E402
from mllmsc.channel import CHANNELS  # noqa: E402
from mllmsc.data.io import read_image  # noqa: E402
from mllmsc.eval.metrics import psnr  # noqa: E402

# DESIGN.md §6, measured on this machine: best file within CBR·3·H·W·log2(1+SNR) bits, CBR 1/16.
REFERENCE = {
    "heif-capacity": {1: 29.62, 4: 31.24, 7: 32.65, 10: 34.06, 13: 35.22},
    "jpeg-capacity": {1: 26.06, 4: 28.13, 7: 29.70, 10: 30.94, 13: 32.04},
}
METHODS = {
    "heif-capacity": dict(codec="heif", capacity=True),
    "jpeg-capacity": dict(codec="jpeg", capacity=True),
    "digital": dict(codec="heif", capacity=False),
    "digital-jpeg": dict(codec="jpeg", capacity=False),
}
LABELS = {
    "heif-capacity": "`digital-capacity` (HEIF, ideal code)",
    "jpeg-capacity": "JPEG, ideal code",
    "digital": "`digital` (HEIF + 5G LDPC + QAM)",
    "digital-jpeg": "`digital-jpeg` (JPEG + 5G LDPC + QAM)",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "kodak")
    parser.add_argument("--images", type=int, default=24, help="first N images of the folder")
    parser.add_argument("--snr", default="1,4,7,10,13")
    parser.add_argument("--cbr", type=float, default=1 / 16)
    parser.add_argument("--methods", default="heif-capacity,jpeg-capacity,digital")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-write", action="store_true", help="print only, leave BENCHMARKS.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    snrs = [float(s) for s in args.snr.split(",")]
    methods = args.methods.split(",")
    paths = sorted(args.data.glob("*.png"))[: args.images]
    channel = CHANNELS.build("awgn")
    cache = EncodeCache(max_images=1)  # one image at a time; every method and SNR shares its encodes
    senders = {m: DigitalBaseline(channel=channel, cache=cache, **METHODS[m]) for m in methods}

    scores = {(m, s): [] for m in methods for s in snrs}
    lost = Counter()
    mcs_used: dict[tuple[str, float], Counter] = {(m, s): Counter() for m in methods for s in snrs}
    start = time.perf_counter()
    for i, path in enumerate(paths):
        x = read_image(path)
        for s in snrs:
            for m in methods:
                gen = torch.Generator().manual_seed(args.seed * 1_000_003 + i * 101 + int(s * 10))
                r = senders[m].transmit(x, s, args.cbr, generator=gen)
                scores[(m, s)].append(float(psnr(r.x_hat, x)))
                lost[(m, s)] += r.lost
                mcs_used[(m, s)][r.mcs] += 1
        running = "  ".join(
            f"{m}@{s:g}={sum(scores[(m, s)]) / len(scores[(m, s)]):.2f}/{lost[(m, s)]}"
            for m in methods
            for s in snrs
        )
        print(f"[{time.perf_counter() - start:6.0f} s] {path.name} {running}", file=sys.stderr, flush=True)
    wall = time.perf_counter() - start

    head = "| method | " + " | ".join(f"{s:g} dB" for s in snrs) + " |"
    rule = "|---|" + "---|" * len(snrs)
    rows = [head, rule]
    for m in methods:
        cells = []
        for s in snrs:
            mean = sum(scores[(m, s)]) / len(scores[(m, s)])
            cells.append(f"{mean:.2f}" + (f" ({lost[(m, s)]} lost)" if not m.endswith("capacity") else ""))
        rows.append(f"| {LABELS[m]} | " + " | ".join(cells) + " |")
        if m in REFERENCE and args.cbr == 1 / 16 and len(paths) == 24:
            ref = [f"{REFERENCE[m].get(int(s), float('nan')):.2f}" for s in snrs]
            rows.append("| reference (DESIGN.md §6) | " + " | ".join(ref) + " |")
    for m in methods:
        if not m.endswith("capacity"):
            picks = [", ".join(f"{k or 'none'}×{v}" for k, v in mcs_used[(m, s)].most_common()) for s in snrs]
            rows.append(f"| {m}: MCS chosen | " + " | ".join(picks) + " |")
    markdown = "\n".join(
        [
            "## Digital separation baselines (Kodak, AWGN, CBR "
            f"{'1/16' if args.cbr == 1 / 16 else f'{args.cbr:g}'})",
            "",
            f"Mean of per-image PSNR (dB, RGB in [0, 1]) over {len(paths)} Kodak images; a lost image "
            "(any codeword failing its CRC, or no MCS reliable enough) counts as mid-grey. Ideal code: "
            "the best file within `floor(budget · log2(1 + SNR))` bits. 5G LDPC: n = 3840, CRC24A per "
            "codeword, 20 BP iterations, APP demapping, MCS with predicted image loss ≤ 10 % from "
            "`src/mllmsc/baselines/bler_table.json`; the file carries a 32-bit length header. HEIF is "
            "pillow-heif x265 (`tune=psnr`, 4:2:0, preset slow), JPEG Pillow 4:2:0.",
            "",
            *rows,
            "",
            f"`benchmarks/digital.py`, {args.threads} torch thread(s), wall time {wall / 60:.1f} min "
            "(HEIF encoding and LDPC decoding dominate), sharing the 2 CPU cores with other jobs.",
        ]
    )
    print(markdown)
    if not args.no_write:
        replace_section("digital", markdown)


if __name__ == "__main__":
    main()

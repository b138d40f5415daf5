"""Encode + channel + decode time per Kodak image for the learned codecs, timed in one run.

    .venv/bin/python benchmarks/speed.py [--image kodim01.png] [--repeats 10] [--no-write]

One 768×512 Kodak image, AWGN 10 dB, CBR 1/16, uniform allocation, inference mode, fp32, 2 threads;
the methods take turns (two rounds each, after a warm-up) so a busy moment of the shared CPU does
not fall on one of them alone. Median of ``--repeats`` calls per round; the better round counts.
Writes the ``speed`` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _report import replace_section  # noqa: E402

from mllmsc.channel import CHANNELS  # noqa: E402
from mllmsc.methods import METHODS  # noqa: E402
from mllmsc.train.codec import load_eval_images  # noqa: E402

KODAK = ROOT.parent / "shared" / "data" / "kodak"
METHODS_TIMED = ("uniform-jscc", "deep-jscc")
STAGES = ("encode", "channel", "decode", "total")


def median_laps(method, x: torch.Tensor, repeats: int) -> dict[str, float]:
    channel = CHANNELS.build("awgn")
    laps = [
        method(x, None, channel, 10.0, 1 / 16, generator=torch.Generator().manual_seed(i)).latency_ms
        for i in range(repeats)
    ]
    return {k: statistics.median(lap.get(k, 0.0) for lap in laps) for k in STAGES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="kodim01.png")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    x = load_eval_images(KODAK, (args.image,))[0]
    methods = {name: METHODS.build(name) for name in METHODS_TIMED}
    params = {name: sum(p.numel() for p in m.codec.parameters()) for name, m in methods.items()}
    best: dict[str, dict[str, float]] = {}
    for _ in range(2):
        for name, method in methods.items():
            method(x, None, CHANNELS.build("awgn"), 10.0, 1 / 16)  # warm-up
            laps = median_laps(method, x, args.repeats)
            if name not in best or laps["total"] < best[name]["total"]:
                best[name] = laps
    base = best["deep-jscc"]["total"]
    lines = [
        "## Speed of the learned codecs, one run",
        "",
        f"`python benchmarks/speed.py` — {args.image} (768×512), AWGN 10 dB, CBR 1/16, uniform allocation, "
        f"inference mode, fp32, 2 threads; median of {args.repeats} calls, "
        "the better of two interleaved rounds.",
        "",
        "| method | parameters | encode ms | channel ms | decode ms | total ms | × deep-jscc |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, laps in best.items():
        cells = " | ".join(f"{laps[k]:.0f}" for k in STAGES)
        lines.append(f"| `{name}` | {params[name] / 1e6:.2f} M | {cells} | {laps['total'] / base:.2f} |")
    markdown = "\n".join(lines)
    print(markdown)
    if not args.no_write:
        replace_section("speed", markdown)


if __name__ == "__main__":
    main()

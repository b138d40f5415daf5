"""Guidance latency per 512×512 image for every backend that runs on this machine.

    .venv/bin/python benchmarks/guidance.py            # rewrites the `guidance` section of BENCHMARKS.md

Backends whose weights are absent (CLIPSeg, LLaVA not in the local HF cache) are listed as such,
never timed on stand-ins.
"""

from __future__ import annotations

import statistics
import time

import torch
from _report import replace_section
from skimage import data

from mllmsc.errors import UserError
from mllmsc.guidance import build_guidance
from mllmsc.types import ChannelState

BACKENDS = ("uniform", "saliency", "clipseg", "llava", "tiny-refseg", "auto")
QUERY = "I need to see the astronaut's face"


def main() -> None:
    torch.set_num_threads(2)
    x = torch.from_numpy(data.astronaut()).permute(2, 0, 1).float()[None] / 255  # 512×512
    lines = [
        "## Guidance latency",
        "",
        "`python benchmarks/guidance.py` — one 512×512 photo (scikit-image astronaut), query "
        f"'{QUERY}', channel state 10 dB / CBR 1/16, {torch.get_num_threads()} threads, median of 10 "
        "calls after one warm-up (model loading not included).",
        "",
        "| backend | ms per image | note |",
        "|---|---|---|",
    ]
    for name in BACKENDS:
        try:
            guide = build_guidance(name)
        except UserError:  # weights not on this machine (mllmsc never downloads at run time)
            lines.append(f"| {name} | — | not run here: its weights are not present locally |")
            continue
        csi = ChannelState(10.0, 1 / 16, "awgn")
        result = guide(x, QUERY, csi)
        times = []
        for _ in range(10):
            start = time.perf_counter()
            result = guide(x, QUERY, csi)
            times.append(1000 * (time.perf_counter() - start))
        note = f"ran {result.backend}, intent {'used' if result.used_query else 'not used'}"
        lines.append(f"| {name} | {statistics.median(times):.1f} | {note} |")
    text = "\n".join(lines)
    replace_section("guidance", text)
    print(text)


if __name__ == "__main__":
    main()

"""Per-image decode time of each generative mode on a Kodak image, on an otherwise idle CPU.

    .venv/bin/python benchmarks/generative_speed.py [--image ../shared/data/kodak/kodim23.png]

The link (``uniform-jscc``, AWGN 12 dB, CBR 1/96) runs once; then each mode's decoder
(:data:`mllmsc.decoder.generative.MODE_SETTINGS`, shipped refiner) decodes what arrived
``--repeats`` times after one warm-up, with torch's default threads. Reports the median decoder
wall time (what ``report.json``'s ``decoder.latency_ms`` measures) against the issue's targets
(balanced <= 3 s, quality <= 20 s per Kodak image on this CPU). Writes the ``generative-speed``
section of BENCHMARKS.md (``--no-write``: print only). Run it alone: other processes on the two
cores inflate every number.
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
from mllmsc.data.io import read_image  # noqa: E402
from mllmsc.decoder import ReceiverContext  # noqa: E402
from mllmsc.decoder.generative import MODE_SETTINGS, GenerativeDecoder  # noqa: E402
from mllmsc.decoder.refiner import GenerativeRefiner  # noqa: E402
from mllmsc.methods import METHODS  # noqa: E402
from mllmsc.weights import weights_path  # noqa: E402

TARGETS_S = {"fast": None, "balanced": 3.0, "quality": 20.0}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, default=ROOT.parent / "shared/data/kodak/kodim23.png")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    with torch.no_grad():
        text = measure(args)
    print(text)
    if not args.no_write:
        replace_section("generative-speed", text)


def measure(args) -> str:
    """The section's Markdown: each mode's median decode time."""
    x = read_image(args.image)[None]
    h, w = x.shape[-2:]
    sent = METHODS.build("uniform-jscc")(
        x, None, CHANNELS.build("awgn"), 12.0, 1 / 96, generator=torch.Generator().manual_seed(0)
    )
    context = ReceiverContext(
        snr_db=torch.tensor([12.0]), cbr=sent.symbols.total / x[0].numel(), importance=torch.ones(1, 1, h, w)
    )
    refiner = GenerativeRefiner.from_pretrained(weights_path("generative-refiner"))
    rows = []
    for mode, (steps, sampler, perception) in MODE_SETTINGS.items():
        decoder = GenerativeDecoder(mode, model=refiner)
        times = []
        for i in range(args.repeats + 1):  # the first is a warm-up
            out = decoder(sent.x_hat, context, generator=torch.Generator().manual_seed(i))
            times.append(out.latency_ms / 1000)
        median = statistics.median(times[1:])
        target = TARGETS_S[mode]
        verdict = "" if target is None else f"≤ {target:g} s: {'met' if median <= target else 'not met'}"
        rows.append(f"| `{mode}` | {steps} | {sampler} | {perception:g} | {median:.2f} | {verdict} |")
    return "\n".join([
        "### Decode time per Kodak image",
        "",
        f"`.venv/bin/python benchmarks/generative_speed.py` ({args.image.name}, {w}×{h}, AWGN 12 dB, "
        f"CBR 1/96; the decoder stage alone, median of {args.repeats} after a warm-up, "
        f"{torch.get_num_threads()} threads, idle 2-core CPU).",
        "",
        "| mode | steps | sampler | perception | seconds | target |",
        "|---|---|---|---|---|---|",
        *rows,
    ])  # fmt: skip


if __name__ == "__main__":
    main()

"""The anchor's experiment: a Stable Diffusion latent over the channel against JSCC and digital links.

    .venv/bin/python benchmarks/paper_generative.py --sd-model ~/sd-2-1-base --data ../shared/data/kodak
    .venv/bin/python benchmarks/paper_generative.py --sd-model DIR --data DIR --snrs 0,6,12 --limit 4

Guo, Chen, Sun, Ai et al., "Diffusion-driven semantic communication for generative models with
bandwidth constraints" (IEEE TWC 2025, arXiv 2407.18468) send an SD VAE latent and denoise it
from the diffusion step that matches the SNR. Here, for each image and SNR: ``sd-latent`` (that
link, :mod:`mllmsc.methods.sd_latent`) against ``uniform-jscc`` (IA-JSCC, uniform allocation: the
Deep JSCC baseline) and ``digital`` (HEIF + 5G LDPC + QAM), all at the same CBR (default 1/96, the
whole SD latent) on the same channel draw seeds. Scores: PSNR and LPIPS (``null`` where LPIPS's
weights are not cached; see :func:`mllmsc.eval.metrics.lpips`).

Writes ``--out/results.csv`` (one row per image × SNR × method) and ``--out/summary.md`` (mean
per method × SNR), each atomically. Nothing here downloads: the SD folder is local.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

from mllmsc.atomic import atomic_write_text
from mllmsc.cli.args import parse_cbr, parse_list, parse_snr
from mllmsc.eval.refseg import write_csv

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("sd-latent", "uniform-jscc", "digital")
SNRS = (0.0, 3.0, 6.0, 9.0, 12.0)


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 4)


def measure(args: argparse.Namespace) -> list[dict[str, object]]:
    """One row per image × SNR × method."""
    from mllmsc.channel import CHANNELS
    from mllmsc.data.io import list_images, read_image
    from mllmsc.eval import metrics
    from mllmsc.methods import METHODS as REGISTRY
    from mllmsc.methods.base import Shared

    paths = list_images(args.data)[: args.limit or None]
    if not paths:
        raise SystemExit(f"no image in {args.data}")
    shared = Shared()
    options = {"sd-latent": {"sd_model": args.sd_model, "mode": args.mode, "prompt": args.prompt}}
    methods = {name: REGISTRY.build(name, shared=shared, **options.get(name, {})) for name in args.methods}
    channel = CHANNELS.build(args.channel)
    rows: list[dict[str, object]] = []
    for index, path in enumerate(paths):
        x = read_image(path)[None]
        for j, snr in enumerate(args.snrs):
            for name, method in methods.items():
                # One seed per image and SNR, the same for every method.
                generator = torch.Generator().manual_seed(1000 * index + j)
                start = time.perf_counter()
                result = method(x, None, channel, snr, args.cbr, generator=generator)
                wall = (time.perf_counter() - start) * 1000
                lpips = metrics.lpips(result.x_hat, x)
                rows.append({
                    "image": path.name,
                    "method": name,
                    "channel": args.channel,
                    "snr_db": snr,
                    "cbr": args.cbr,
                    "cbr_used": float(result.symbols.cbr_used[0]),
                    "psnr": _finite(float(metrics.psnr(result.x_hat, x)[0])),
                    "lpips": _finite(float(lpips[0])) if lpips is not None else None,
                    "lost": int(result.lost[0]) if result.lost is not None else 0,
                    "start_timestep": result.details.get("start_timestep"),
                    "ms": round(wall, 1),
                })  # fmt: skip
                print(f"{path.name} {name} {snr:g} dB: PSNR {rows[-1]['psnr']}", file=sys.stderr, flush=True)
    return rows


def summary(rows: list[dict[str, object]], args: argparse.Namespace) -> str:
    """Mean PSNR / LPIPS per method × SNR as a Markdown table (``—`` where a mean has no numbers)."""

    def mean(values: list) -> float | None:
        numbers = [float(v) for v in values if v is not None]
        return sum(numbers) / len(numbers) if numbers else None

    def cell(method: str, snr: float) -> str:
        chosen = [r for r in rows if r["method"] == method and r["snr_db"] == snr]
        p, lp = mean([r["psnr"] for r in chosen]), mean([r["lpips"] for r in chosen])
        lost = sum(int(r["lost"]) for r in chosen)
        text = ("—" if p is None else f"{p:.2f}") + " / " + ("—" if lp is None else f"{lp:.3f}")
        return text + (f" ({lost} lost)" if lost else "")

    images = len({r["image"] for r in rows})
    lines = [
        f"PSNR (dB) / LPIPS, mean of {images} image(s) of `{args.data}`; {args.channel}, CBR {args.cbr:.6g}; "
        f"`sd-latent` in mode {args.mode} with `{args.sd_model}`.",
        "",
        "| method | " + " | ".join(f"{s:g} dB" for s in args.snrs) + " |",
        "|---|" + "---|" * len(args.snrs),
        *[f"| `{m}` | " + " | ".join(cell(m, s) for s in args.snrs) + " |" for m in args.methods],
    ]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sd-model", type=Path, required=True, help="local Stable Diffusion folder")
    parser.add_argument("--data", type=Path, required=True, help="folder of images")
    parser.add_argument("--snrs", default=",".join(f"{s:g}" for s in SNRS), help="SNR list in dB")
    parser.add_argument("--channel", default="awgn", help="awgn or rayleigh")
    parser.add_argument("--cbr", default="1/96", help="channel bandwidth ratio (1/96: the whole SD latent)")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--mode", default="balanced", help="sd-latent's mode: fast, balanced or quality")
    parser.add_argument("--prompt", default="", help="sd-latent's text prompt")
    parser.add_argument("--limit", type=int, default=0, help="first N images only (0: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "paper-generative")
    args = parser.parse_args(argv)
    args.snrs = parse_list(args.snrs, parse_snr)
    args.cbr = parse_cbr(args.cbr)
    args.methods = parse_list(args.methods)
    return args


def main(argv: list[str] | None = None) -> int:
    from mllmsc.decoder.stable_diffusion import check_folder
    from mllmsc.errors import UserError

    args = parse_args(argv)
    try:
        check_folder(args.sd_model, "--sd-model")
        rows = measure(args)
    except UserError as err:
        print(f"paper_generative: error: {err}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "results.csv", [{k: "" if v is None else v for k, v in r.items()} for r in rows])
    table = summary(rows, args)
    atomic_write_text(args.out / "summary.md", table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

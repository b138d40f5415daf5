"""IA-JSCC on Kodak: uniform (Deep JSCC) grid, importance vs uniform on ROIs, and speed.

    .venv/bin/python benchmarks/kodak.py [--weights DIR] [--quick]

Writes the `kodak` section of BENCHMARKS.md:
1. uniform allocation, AWGN and Rayleigh block fading (one h per image, perfect CSI, MMSE):
   PSNR / MS-SSIM over SNR {1, 4, 7, 10, 13} dB × CBR {1/48, 1/24, 1/16, 1/12, 1/8};
2. importance allocation against uniform at the same total symbols (AWGN, CBR 1/16) for ROI masks
   covering 10 % and 25 % of the image: ROI PSNR, background PSNR, whole-image PSNR. Kodak has no
   ROI annotations, so the ROI is a centred rectangle of the image's aspect ratio with that area
   (the photographed subject is near the centre in most Kodak images);
3. encode + channel + decode time per Kodak image (768×512, CBR 1/16, inference mode, fp32).
Mean of per-image PSNR over the 24 images, RGB in [0, 1]; seeds fixed per image.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

import torch

from mllmsc.channel import CHANNELS
from mllmsc.codec import IAJSCC
from mllmsc.data.io import read_image
from mllmsc.eval.scoring import score
from mllmsc.guidance import GUIDANCE
from mllmsc.methods import METHODS
from mllmsc.weights import weights_path

KODAK = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "kodak"
SNRS = (1.0, 4.0, 7.0, 10.0, 13.0)
CBRS = ((1, 48), (1, 24), (1, 16), (1, 12), (1, 8))
ROI_FRACTIONS = (0.10, 0.25)


def centred_box(height: int, width: int, fraction: float) -> tuple[int, int, int, int]:
    """A centred rectangle of the image's aspect ratio covering ``fraction`` of its area."""
    scale = math.sqrt(fraction)
    bh, bw = round(height * scale), round(width * scale)
    y0, x0 = (height - bh) // 2, (width - bw) // 2
    return x0, y0, x0 + bw, y0 + bh


def mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def uniform_grid(codec: IAJSCC, images: list[torch.Tensor], channel: str) -> list[str]:
    method, link = METHODS.build("uniform-jscc", codec=codec), CHANNELS.build(channel)
    rows = []
    for snr in SNRS:
        cells = []
        for num, den in CBRS:
            p, s = [], []
            for i, x in enumerate(images):
                out = method(x, None, link, snr, num / den, generator=torch.Generator().manual_seed(i))
                metrics = score(x, out, with_lpips=False)[0]
                p.append(metrics["psnr"])
                s.append(metrics["ms_ssim"])
            cells.append(f"{mean(p):.2f} / {mean(s):.3f}")
        rows.append(f"| {snr:g} | " + " | ".join(cells) + " |")
    return rows


def roi_table(codec: IAJSCC, images: list[torch.Tensor]) -> list[str]:
    channel = CHANNELS.build("awgn")
    methods = {
        "uniform": METHODS.build("uniform-jscc", codec=codec),
        "importance": METHODS.build("ia-jscc", codec=codec),
    }
    rows = []
    for fraction in ROI_FRACTIONS:
        for snr in (1.0, 10.0):
            stats: dict[str, dict[str, list[float]]] = {}
            for i, x in enumerate(images):
                h, w = x.shape[-2:]
                box = centred_box(h, w, fraction)
                importance = GUIDANCE.build("box", box=box)(x)
                for name, method in methods.items():
                    out = method(
                        x, importance, channel, snr, 1 / 16, generator=torch.Generator().manual_seed(i)
                    )
                    metrics = score(x, out, importance.mask, with_lpips=False)[0]
                    d = stats.setdefault(name, {"roi": [], "bg": [], "all": [], "symbols": []})
                    d["roi"].append(metrics["roi_psnr"])
                    d["bg"].append(metrics["background_psnr"])
                    d["all"].append(metrics["psnr"])
                    d["symbols"].append(int(out.symbols.total[0]))
            u, m = stats["uniform"], stats["importance"]
            rows.append(
                f"| {100 * fraction:.0f} % | {snr:g} | {mean(u['roi']):.2f} | {mean(m['roi']):.2f} | "
                f"{mean(m['roi']) - mean(u['roi']):+.2f} | {mean(u['bg']):.2f} | {mean(m['bg']):.2f} | "
                f"{mean(u['all']):.2f} | {mean(m['all']):.2f} | {mean(m['all']) - mean(u['all']):+.2f} | "
                f"{mean(u['symbols']):.0f} / {mean(m['symbols']):.0f} |"
            )
    return rows


def timing(codec: IAJSCC, image: torch.Tensor) -> tuple[float, dict[str, float]]:
    method, channel = METHODS.build("uniform-jscc", codec=codec), CHANNELS.build("awgn")
    method(image, None, channel, 10.0, 1 / 16)  # warm-up
    runs = [
        method(image, None, channel, 10.0, 1 / 16, generator=torch.Generator().manual_seed(i)).latency_ms
        for i in range(10)
    ]
    median = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    return median["total"], median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", type=Path, default=None, help="IA-JSCC folder (default: shipped)")
    parser.add_argument("--kodak", type=Path, default=KODAK)
    parser.add_argument("--quick", action="store_true", help="4 images, for a smoke run (not written)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    weights = args.weights or weights_path("ia-jscc")
    codec = IAJSCC.from_pretrained(weights).eval()
    files = sorted(args.kodak.glob("kodim*.png"))[: 4 if args.quick else None]
    if not files:
        raise SystemExit(f"no Kodak images in {args.kodak}")
    images = [read_image(f)[None] for f in files]
    params = sum(p.numel() for p in codec.parameters())

    start = time.perf_counter()
    lines = [
        "## IA-JSCC on Kodak",
        "",
        f"`python benchmarks/kodak.py` — weights `{weights.name}` ({params / 1e6:.2f} M parameters), "
        f"{len(files)} Kodak images, mean of per-image PSNR (RGB in [0, 1]) / MS-SSIM.",
        "",
    ]
    header = "| SNR dB | " + " | ".join(f"CBR {n}/{d}" for n, d in CBRS) + " |"
    for channel, label in (
        ("awgn", "AWGN"),
        ("rayleigh", "Rayleigh block fading (one h per image, perfect CSI, MMSE)"),
    ):
        lines += [f"### Uniform allocation (Deep JSCC baseline of the same model), {label}", "", header]
        lines += ["|---|" + "---|" * len(CBRS)] + uniform_grid(codec, images, channel) + [""]
    lines += [
        "### Importance against uniform allocation, same total symbols (AWGN, CBR 1/16)",
        "",
        "Centred ROI box covering the given fraction of the image; importance allocation uses the box "
        "as its map.",
        "",
        "| ROI | SNR dB | ROI PSNR uniform | ROI PSNR importance | Δ ROI | bg PSNR uniform "
        "| bg PSNR importance | PSNR uniform | PSNR importance | Δ PSNR | symbols uniform / importance |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *roi_table(codec, images),
        "",
    ]
    total, stages = timing(codec, images[0])
    lines += [
        "### Speed",
        "",
        f"One {images[0].shape[-1]}×{images[0].shape[-2]} Kodak image, AWGN 10 dB, CBR 1/16, uniform, "
        f"{torch.get_num_threads()} threads, median of 10: **{total:.0f} ms** end to end ("
        + ", ".join(f"{k} {v:.0f} ms" for k, v in stages.items() if k != "total")
        + ").",
        "",
        f"_Benchmark wall time: {(time.perf_counter() - start) / 60:.1f} min._",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.quick:
        from _report import replace_section

        replace_section("kodak", text)


if __name__ == "__main__":
    main()

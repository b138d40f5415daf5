"""The generative decoder's distortion-perception trade-off, measured on crops of the training photos.

    .venv/bin/python benchmarks/generative_tradeoff.py

For each condition (AWGN, SNR × CBR, ``uniform-jscc`` link) and each candidate sampler (4 DDIM
steps for ``balanced``; 16 DDIM or 16 DDPM steps for ``quality``) it runs the refiner once,
keeping the posterior-mean estimate (the first step's x0-prediction) and the sample, and scores
every perception ``p`` of the output ``mean + p · (sample − mean)`` (interpolated in pixels, which
differs from the decoder's residual interpolation only where the decoder clamps). Metrics: PSNR and
NIQE against the originals, and the originals' NIQE.

The modes' sampler and perception in :data:`mllmsc.decoder.generative.MODE_SETTINGS` are picked
here by a rule fixed before any Kodak run: per mode, among its candidates, the (sampler, ``p``)
with the lowest NIQE averaged over the conditions whose PSNR loss against ``fast`` stays within
the mode's budget (0.75 dB ``balanced``, 1.5 dB ``quality``) under every condition. (NIQE is not
monotone in ``p``: a full sample carries texture NIQE reads as unnatural, so the largest ``p`` the
budget allows is not the most natural.) The crops come from ``--data`` (the training photos), so
Kodak stays a test set.

Writes ``benchmarks/results/generative_tradeoff.csv`` and the ``generative-tradeoff`` section of
BENCHMARKS.md (``--no-write``: print only).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _report import replace_section  # noqa: E402

from mllmsc.channel import CHANNELS  # noqa: E402
from mllmsc.data.io import list_images  # noqa: E402
from mllmsc.decoder.base import ReceiverContext  # noqa: E402
from mllmsc.decoder.generative import GenerativeDecoder  # noqa: E402
from mllmsc.decoder.refiner import GenerativeRefiner  # noqa: E402
from mllmsc.eval.metrics import niqe  # noqa: E402
from mllmsc.eval.refseg import write_csv  # noqa: E402
from mllmsc.methods import METHODS  # noqa: E402
from mllmsc.methods.base import Shared  # noqa: E402
from mllmsc.train.codec import load_eval_images, psnr  # noqa: E402

SAMPLERS = {"ddim4": (4, "ddim"), "ddim16": (16, "ddim"), "ddpm16": (16, "ddpm")}
CANDIDATES = {"balanced": ("ddim4",), "quality": ("ddim16", "ddpm16")}
PERCEPTIONS = tuple(round(0.1 * i, 1) for i in range(11))
BUDGETS = {"balanced": 0.75, "quality": 1.5}  # allowed PSNR loss against fast, dB


def centre_crops(folder: Path, n: int, size: int) -> list[torch.Tensor]:
    """Centred ``size`` crops of ``n`` photos of ``folder`` spread evenly over its sorted list (of
    those at least ``size`` on each side), so every source of the training set is represented.
    """
    from PIL import Image

    def big(path: Path) -> bool:
        with Image.open(path) as im:
            return min(im.size) >= size

    paths = [p for p in list_images(folder) if big(p)]
    picked = [paths[round(i * (len(paths) - 1) / max(n - 1, 1))] for i in range(min(n, len(paths)))]
    crops = []
    for x in load_eval_images(folder, tuple(p.name for p in picked)):
        h, w = x.shape[-2:]
        top, left = (h - size) // 2, (w - size) // 2
        crops.append(x[..., top : top + size, left : left + size])
    return crops


def measure(args) -> list[dict[str, object]]:
    """One row per condition × sampler × perception (plus ``fast``)."""
    refiner = GenerativeRefiner.from_pretrained(args.weights).eval()
    link = METHODS.build("uniform-jscc", shared=Shared())
    channel = CHANNELS.build("awgn")
    crops = centre_crops(args.data, args.images, args.crop)
    if not crops:
        raise SystemExit(f"no photo of at least {args.crop} px in {args.data}")
    rows: list[dict[str, object]] = []
    reference = float(torch.cat([niqe(x) for x in crops]).mean())
    for snr in args.snrs:
        for cbr in args.cbrs:
            scores: dict[tuple[str, float], list[tuple[float, float]]] = {}
            for i, x in enumerate(crops):
                sent = link.transmit(x, None, channel, snr, cbr, generator=torch.Generator().manual_seed(i))
                x_hat = sent.x_hat.clamp(0, 1)
                h, w = x.shape[-2:]
                context = ReceiverContext(
                    snr_db=torch.full((1,), snr), cbr=sent.symbols.total.float() / (3 * h * w),
                    importance=torch.ones(1, 1, h, w),
                )  # fmt: skip
                scores.setdefault(("fast", 0.0), []).append((float(psnr(x_hat, x)[0]), float(niqe(x_hat)[0])))
                for label, (steps, sampler) in SAMPLERS.items():
                    ends = [
                        GenerativeDecoder(
                            "quality", model=refiner, steps=steps, sampler=sampler, perception=p
                        )(x_hat, context, generator=torch.Generator().manual_seed(1000 + i)).x
                        for p in (0.0, 1.0)
                    ]  # same generator: the same mean and the same sample
                    for p in PERCEPTIONS:
                        out = (ends[0] + p * (ends[1] - ends[0])).clamp(0, 1)
                        scores.setdefault((label, p), []).append(
                            (float(psnr(out, x)[0]), float(niqe(out)[0]))
                        )
            for (label, p), values in scores.items():
                rows.append({
                    "snr_db": snr, "cbr": cbr, "sampler": label, "perception": p,
                    "psnr": sum(v[0] for v in values) / len(values),
                    "niqe": sum(v[1] for v in values) / len(values),
                    "niqe_original": reference, "n": len(values),
                })  # fmt: skip
            print(f"SNR {snr:g} dB, CBR {cbr:.5f}: done", flush=True)
    return rows


def choose(rows: list[dict[str, object]]) -> dict[str, tuple[str, float, float]]:
    """Per mode: the (sampler, perception) of its candidates with the lowest mean NIQE among those
    whose PSNR loss against ``fast`` is within the mode's budget under every condition, and that NIQE.
    """
    fast = {(r["snr_db"], r["cbr"]): r["psnr"] for r in rows if r["sampler"] == "fast"}
    chosen = {}
    for mode, budget in BUDGETS.items():
        best = None
        for label in CANDIDATES[mode]:
            for p in PERCEPTIONS:
                cell = [r for r in rows if r["sampler"] == label and r["perception"] == p]
                if all(fast[(r["snr_db"], r["cbr"])] - r["psnr"] <= budget for r in cell):
                    score = sum(r["niqe"] for r in cell) / len(cell)
                    if best is None or score < best[2]:
                        best = (label, p, score)
        chosen[mode] = best or (CANDIDATES[mode][0], 0.0, float("nan"))
    return chosen


def markdown(
    rows: list[dict[str, object]], chosen: dict[str, tuple[str, float, float]], args, minutes: float
) -> str:
    shown = sorted({0.0, 0.2, 0.3, 0.5, 0.7, 1.0} | {p for _, p, _ in chosen.values()})
    conditions = [(snr, cbr) for snr in args.snrs for cbr in args.cbrs]
    by = {(r["snr_db"], r["cbr"], r["sampler"], r["perception"]): r for r in rows}
    lines = [
        "### The generative decoder's distortion-perception trade-off (training-photo crops)",
        "",
        "`.venv/bin/python benchmarks/generative_tradeoff.py` "
        f"({rows[0]['n']} centred {args.crop}-px crops of training photos spread over the set, AWGN, "
        f"`uniform-jscc` link, the shipped refiner; {minutes:.0f} min on this CPU). "
        "Output `mean + p · (sample − mean)`; each cell PSNR dB / NIQE (lower is more natural; "
        f"the originals: {rows[0]['niqe_original']:.2f}).",
        "",
        "| sampler | p | "
        + " | ".join(f"{s:g} dB, 1/{round(1 / c)}" for s, c in conditions)
        + " | mean NIQE |",
        "|---|---|" + "---|" * (len(conditions) + 1),
    ]
    for label, ps in [("fast", [0.0]), *[(k, shown) for k in SAMPLERS]]:
        for p in ps:
            cell = [by[(s, c, label, p)] for s, c in conditions]
            mean = sum(r["niqe"] for r in cell) / len(cell)
            text = " | ".join(f"{r['psnr']:.2f} / {r['niqe']:.2f}" for r in cell)
            lines.append(f"| {label} | {'—' if label == 'fast' else f'{p:g}'} | {text} | {mean:.2f} |")
    lines += [
        "",
        "Rule (fixed before any Kodak run): per mode, the (sampler, p) of its candidates "
        + "; ".join(f"`{m}`: {', '.join(CANDIDATES[m])}, within {BUDGETS[m]} dB of `fast`" for m in BUDGETS)
        + " under every condition, with the lowest mean NIQE: "
        + ", ".join(
            f"`{m}` = {label} at p = {p:g} (mean NIQE {n:.2f})" for m, (label, p, n) in chosen.items()
        )
        + " (`MODE_SETTINGS` in `src/mllmsc/decoder/generative.py`).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", type=Path, default=ROOT / "src/mllmsc/weights/generative-refiner")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/train")
    parser.add_argument("--images", type=int, default=8, help="photos, spread over the sorted list")
    parser.add_argument("--crop", type=int, default=384, help="NIQE needs room: 16 patches of 96 px")
    parser.add_argument("--snrs", type=lambda s: [float(v) for v in s.split(",")], default=[0.0, 6.0, 12.0])
    parser.add_argument(
        "--cbrs", type=lambda s: [1 / float(v) for v in s.split(",")], default=[1 / 384, 1 / 96],
        help="CBR denominators, e.g. 384,96",
    )  # fmt: skip
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    with torch.no_grad():  # not set_grad_enabled(False): main() also runs inside the test process
        rows = measure(args)
    chosen = choose(rows)
    text = markdown(rows, chosen, args, (time.perf_counter() - start) / 60)
    print(text)
    if not args.no_write:
        write_csv(ROOT / "benchmarks/results/generative_tradeoff.csv", rows)
        replace_section("generative-tradeoff", text)


if __name__ == "__main__":
    main()

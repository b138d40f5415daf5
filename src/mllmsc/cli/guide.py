"""``mllmsc guide``: one image + a query (+ the channel) → importance map, mask, overlay, report."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from mllmsc.cli.args import parse_cbr, parse_query, parse_snr
from mllmsc.errors import UserError

OUTPUTS = ("map.png", "mask.png", "overlay.png", "guide.json")


def guide(
    image: Path = typer.Argument(..., help="Image to guide (PNG, JPEG, WebP, HEIF)."),
    out: Path = typer.Option(..., "--out", help="Folder for map.png, mask.png, overlay.png, guide.json."),
    query: str = typer.Option("", "--query", help="The user's intent, e.g. 'what colour is the ring?'."),
    guidance: str = typer.Option(
        "auto", "--guidance", help="auto, clipseg, llava, saliency, tiny-refseg, uniform."
    ),
    guidance_model: str | None = typer.Option(
        None, "--guidance-model", help="Model folder or cached Hugging Face id for clipseg/llava/auto."
    ),
    snr: str | None = typer.Option(None, "--snr", help="SNR in dB (tightens the mask when low)."),
    cbr: str | None = typer.Option(None, "--cbr", help="Bandwidth budget: 1/16 or a decimal in (0, 1]."),
    device: str = typer.Option("cpu", "--device", help="Where a model runs (cpu, cuda, ...)."),
) -> None:
    """Where does QUERY look in IMAGE? Writes the soft map, the mask, an overlay and guide.json."""
    report = guide_image(
        image,
        out,
        query=parse_query(query),
        guidance=guidance,
        guidance_model=guidance_model,
        snr_db=None if snr is None else parse_snr(snr),
        cbr=None if cbr is None else parse_cbr(cbr),
        device=device,
    )
    from rich.console import Console

    Console().print(
        f"[bold]{image}[/] → {report['backend']}: ROI {100 * report['roi_fraction']:.1f} % "
        f"(phrases: {', '.join(report['phrases']) or '—'}; query used: {report['used_query']}) "
        f"in {report['latency_ms']:.0f} ms\nwrote {out}/{{map,mask,overlay}}.png and guide.json"
    )


def guide_image(
    image: Path,
    out: Path,
    *,
    query: str = "",
    guidance: str = "auto",
    guidance_model: str | None = None,
    snr_db: float | None = None,
    cbr: float | None = None,
    device: str = "cpu",
) -> dict:
    """Run a guidance backend on one image file and write the four outputs; returns guide.json."""
    from mllmsc.files import check_input_file
    from mllmsc.guidance import GUIDANCE

    check_input_file(image)  # before torch loads: a typo fails at once
    GUIDANCE.require(guidance)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a folder")
    targets = {(out / name).resolve() for name in OUTPUTS}
    if image.resolve() in targets:
        raise UserError(f"--out {out} would overwrite the input {image}; choose another folder")

    from mllmsc.data.io import read_image
    from mllmsc.guidance import build_guidance
    from mllmsc.types import ChannelState

    x = read_image(image)[None]  # bad images fail here, before a model is loaded
    start = time.perf_counter()
    backend = build_guidance(guidance, model=guidance_model, device=None if device == "cpu" else device)
    load_ms = 1000 * (time.perf_counter() - start)
    csi = ChannelState(snr_db=snr_db, cbr=cbr) if snr_db is not None or cbr is not None else None
    imp = backend(x, query or None, csi)
    report = {
        "image": str(image),
        "query": query,
        "height": int(x.shape[-2]),
        "width": int(x.shape[-1]),
        "requested": guidance,
        "backend": imp.backend,
        "phrases": imp.phrases,
        "used_query": imp.used_query,
        "roi_fraction": float(imp.mask.float().mean()),
        "latency_ms": round(imp.latency_ms, 3),
        "load_ms": round(load_ms, 3),
        "snr_db": snr_db,
        "cbr": cbr,
    }
    note = getattr(backend, "reason", None)
    if note:
        report["note"] = note
    answers = getattr(backend, "last_answers", None)
    if answers:
        report["llm_answer"] = answers[0]
    _write(out, x[0], imp.soft[0], imp.mask[0], report)
    return report


def overlay(x, mask):
    """The image with the mask tinted red and the rest dimmed (``[3, H, W]`` in [0, 1])."""
    import torch

    m = mask.float()
    red = torch.tensor([1.0, 0.1, 0.1]).view(3, 1, 1)
    inside = 0.65 * x + 0.35 * red
    return (m * inside + (1 - m) * 0.45 * x).clamp(0, 1)


def _write(out: Path, x, soft, mask, report: dict) -> None:
    from mllmsc.atomic import atomic_write_text
    from mllmsc.data.io import write_image

    out.mkdir(parents=True, exist_ok=True)
    write_image(out / "map.png", soft)
    write_image(out / "mask.png", mask.float())
    write_image(out / "overlay.png", overlay(x, mask))
    atomic_write_text(out / "guide.json", json.dumps(report, indent=2) + "\n")

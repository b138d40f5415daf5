"""``mllmsc transmit``: one image through guidance → allocation → IA-JSCC → channel → decoder."""

from __future__ import annotations

import json
import math
from pathlib import Path

import typer

from mllmsc.cli.args import parse_cbr, parse_snr
from mllmsc.errors import UserError

OUTPUTS = ("received.png", "importance.png", "allocation.png", "report.png", "report.json")


def transmit(
    image: Path = typer.Argument(..., help="Image to send (PNG, JPEG, WebP, HEIF)."),
    out: Path = typer.Option(..., "--out", help="Folder for received.png, report.json, report.png, ..."),
    query: str = typer.Option("", "--query", help="The user's intent, e.g. 'what is on the table?'."),
    snr: str = typer.Option("10", "--snr", help="SNR in dB."),
    cbr: str = typer.Option("1/16", "--cbr", help="Channel bandwidth ratio: 1/16 or a decimal in (0, 1]."),
    channel: str = typer.Option("awgn", "--channel", help="awgn, rayleigh, rician or ofdm-tdl."),
    guidance: str | None = typer.Option(
        None,
        "--guidance",
        help="Guidance backend: auto, clipseg, llava, saliency, tiny-refseg, mask, box, uniform; "
        "default: mask with --mask, box with --box, else auto.",
    ),
    guidance_model: str | None = typer.Option(
        None, "--guidance-model", help="Local folder or cached hub id of the clipseg/llava model."
    ),
    mask: Path | None = typer.Option(None, "--mask", help="Region of interest for --guidance mask (white)."),
    box: str | None = typer.Option(None, "--box", help="x0,y0,x1,y1 for --guidance box."),
    roi_mask: Path | None = typer.Option(
        None, "--roi-mask", help="Evaluation mask for roi_psnr (white = ROI); default: the guidance mask."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the channel's torch.Generator."),
    weights: Path | None = typer.Option(
        None, "--weights", help="IA-JSCC folder (config.json + model.safetensors)."
    ),
) -> None:
    """Send IMAGE over a noisy channel with importance-aware deep JSCC and report what arrived."""
    report = send_image(
        image,
        out,
        query=query,
        snr_db=parse_snr(snr),
        cbr=parse_cbr(cbr),
        channel=channel,
        guidance=guidance or ("mask" if mask is not None else "box" if box is not None else "auto"),
        guidance_model=guidance_model,
        mask=mask,
        box=_parse_box(box),
        roi_mask=roi_mask,
        seed=seed,
        weights=weights,
    )
    _print_summary(out, report)


def send_image(
    image: Path,
    out: Path,
    *,
    query: str,
    snr_db: float,
    cbr: float,
    channel: str,
    guidance: str,
    guidance_model: str | None = None,
    mask: Path | None = None,
    box: tuple[int, int, int, int] | None = None,
    roi_mask: Path | None = None,
    seed: int = 0,
    weights: Path | None = None,
) -> dict:
    """Run the pipeline on one image file and write the five outputs of the contract into ``out``.

    Returns:
        the ``report.json`` content.
    """
    _check_outputs_do_not_clobber_inputs(out, [image, mask, roi_mask])

    import torch

    from mllmsc.channel import CHANNELS
    from mllmsc.codec import IAJSCC
    from mllmsc.data.io import read_image, read_mask
    from mllmsc.guidance import build_guidance
    from mllmsc.pipeline import Pipeline
    from mllmsc.weights import weights_path

    channel_block = CHANNELS.build(channel)
    backend = build_guidance(guidance, model=guidance_model, mask=str(mask) if mask else None, box=box)
    x = read_image(image)[None]
    height, width = x.shape[-2:]
    eval_mask = read_mask(roi_mask, size=(height, width))[None] if roi_mask is not None else None
    codec = IAJSCC.from_pretrained(weights if weights is not None else weights_path("ia-jscc")).eval()
    pipeline = Pipeline(codec, channel_block, backend, channel_name=channel)
    result = pipeline(x, snr_db, cbr, intent=query or None, generator=torch.Generator().manual_seed(seed))
    report = _report(image, query, channel, snr_db, cbr, x, result, eval_mask)
    _write_outputs(out, x, result, report, codec.k_max)
    return report


def _parse_box(text: str | None) -> tuple[int, int, int, int] | None:
    if text is None:
        return None
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"--box must be x0,y0,x1,y1 in pixels, got {text!r}") from None
    if len(values) != 4:
        raise UserError(f"--box must be x0,y0,x1,y1 in pixels, got {text!r}")
    return values


def _check_outputs_do_not_clobber_inputs(out: Path, inputs: list[Path | None]) -> None:
    """Refuse an --out folder whose report files would replace one of the user's inputs."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a folder")
    targets = {(out / name).resolve() for name in OUTPUTS}
    for path in inputs:
        if path is not None and path.resolve() in targets:
            raise UserError(f"--out {out} would overwrite the input {path}; choose another folder")


def _finite(value: float) -> float | None:
    """A metric for JSON: non-finite (empty region, identical images) becomes null."""
    return float(value) if math.isfinite(value) else None


def _report(image, query, channel, snr_db, cbr, x, result, eval_mask) -> dict:
    from mllmsc.eval.metrics import background_psnr, lpips, ms_ssim, psnr, roi_psnr

    alloc, imp = result.allocation, result.importance
    roi = eval_mask if eval_mask is not None else imp.mask
    x_hat = result.x_hat
    lp = lpips(x, x_hat)
    payload, side = int(alloc.payload[0]), int(alloc.side_info[0])
    height, width = x.shape[-2:]
    return {
        "image": str(image),
        "query": query,
        "height": int(height),
        "width": int(width),
        "channel": channel,
        "snr_db": snr_db,
        "cbr_target": cbr,
        "cbr_used": (payload + side) / (3 * height * width),
        "symbols": {
            "budget": int(alloc.budget),
            "payload": payload,
            "side_info": side,
            "total": payload + side,
        },
        "guidance": {
            "backend": imp.backend,
            "roi_fraction": float(imp.mask.float().mean()),
            "used_query": imp.used_query,
        },
        "metrics": {
            "psnr": _finite(float(psnr(x, x_hat)[0])),
            "ms_ssim": _finite(float(ms_ssim(x, x_hat)[0])),
            "roi_psnr": _finite(float(roi_psnr(x, x_hat, roi)[0])),
            "background_psnr": _finite(float(background_psnr(x, x_hat, roi)[0])),
            "lpips": None if lp is None else _finite(float(lp[0])),
        },
        "latency_ms": {k: round(v, 3) for k, v in result.latency_ms.items()},
    }


def _write_outputs(out: Path, x, result, report: dict, k_max: int) -> None:
    from mllmsc.atomic import atomic_write_bytes, atomic_write_text
    from mllmsc.data.io import write_image
    from mllmsc.eval.figures import allocation_image, transmission_report

    out.mkdir(parents=True, exist_ok=True)
    size = tuple(x.shape[-2:])
    soft = result.importance.soft[0]
    alloc_rgb = allocation_image(result.allocation.k[0], k_max, size)
    write_image(out / "received.png", result.x_hat[0])
    write_image(out / "importance.png", soft)
    write_image(out / "allocation.png", alloc_rgb)
    m, s = report["metrics"], report["symbols"]

    def db(v):
        return "n/a" if v is None else f"{v:.2f} dB"

    title = (
        f"{report['channel']} at {report['snr_db']:g} dB, CBR {report['cbr_used']:.4f} "
        f"({s['payload']} payload + {s['side_info']} side-info symbols of {s['budget']})"
    )
    captions = (
        "original",
        f"importance ({report['guidance']['backend']}, ROI {100 * report['guidance']['roi_fraction']:.0f} %)",
        f"symbols per cell (max {k_max})",
        f"received: PSNR {db(m['psnr'])}, ROI {db(m['roi_psnr'])}, background {db(m['background_psnr'])}",
    )
    png = transmission_report(x[0], soft, alloc_rgb, result.x_hat[0], title=title, captions=captions)
    atomic_write_bytes(out / "report.png", png)
    atomic_write_text(out / "report.json", json.dumps(report, indent=2) + "\n")


def _print_summary(out: Path, report: dict) -> None:
    from rich.console import Console

    m, s, lat = report["metrics"], report["symbols"], report["latency_ms"]

    def fmt(v, unit=" dB"):
        return "null" if v is None else f"{v:.2f}{unit}"

    Console().print(
        f"[bold]{report['image']}[/] → {report['channel']} at {report['snr_db']:g} dB, "
        f"CBR {report['cbr_used']:.4f} ({s['total']}/{s['budget']} symbols, side info {s['side_info']})\n"
        f"PSNR {fmt(m['psnr'])}  MS-SSIM {fmt(m['ms_ssim'], '')}  ROI {fmt(m['roi_psnr'])}  "
        f"background {fmt(m['background_psnr'])}  total {lat['total']:.0f} ms\n"
        f"wrote {out}/{{received,importance,allocation,report}}.png and report.json"
    )

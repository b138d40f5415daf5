"""One image through one method, scored and written: what ``transmit``, ``demo`` and the service share.

x ──► Pipeline(guidance, method, channel) ──► TransmissionResult ──► score ──► report.json
                                                                 └──► received.png, importance.png,
                                                                      allocation.png, report.png
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from mllmsc.eval.scoring import score, transmission_report
from mllmsc.files import TRANSMIT_OUTPUTS
from mllmsc.types import TransmissionResult

if TYPE_CHECKING:
    from mllmsc.guidance import Guidance
    from mllmsc.methods.base import TransmissionMethod
    from mllmsc.tasks.vqa import Answerer

#: The files :func:`write_transmission` writes (DESIGN.md §4).
OUTPUTS = TRANSMIT_OUTPUTS


def transmit_image(
    x: torch.Tensor,
    *,
    method: TransmissionMethod,
    channel: str,
    snr_db: float,
    cbr: float,
    guidance: Guidance | None = None,
    query: str = "",
    seed: int = 0,
    roi: torch.Tensor | None = None,
    image_name: str = "",
    answerer: Answerer | None = None,
) -> tuple[TransmissionResult, dict]:
    """Send one image and score it; returns the result and its ``report.json`` content.

    Args:
        x: the image.
        method: a built transmission method.
        channel: registry name of the channel (built with its defaults).
        snr_db, cbr: the link.
        guidance: the importance backend (``None``: no guidance, for methods that ignore it).
        query: the user's intent, handed to the guidance.
        seed: seed of the channel's ``torch.Generator``.
        roi: the evaluation mask for ROI / background PSNR; ``None``: the guidance mask.
        image_name: what the report calls the image.
        answerer: a receiver-side task (:mod:`mllmsc.tasks`): when given, it answers ``query`` from
            the received image and the report gains ``"task": {"question", "answer", "answerer",
            "confidence"}`` (``answer`` is ``null`` with a ``reason`` when it has none).

    Shapes:
        x: ``[1, 3, H, W]`` in [0, 1]; roi: ``[1, 1, H, W]`` bool.
    """
    from mllmsc.channel import CHANNELS
    from mllmsc.pipeline import Pipeline

    pipeline = Pipeline(method, CHANNELS.build(channel), guidance, channel_name=channel)
    result = pipeline(x, snr_db, cbr, intent=query or None, generator=torch.Generator().manual_seed(seed))
    metrics = score(x, result, roi)[0]
    report = transmission_report(
        image=image_name, query=query, channel=channel, snr_db=snr_db, cbr=cbr, result=result, metrics=metrics
    )
    if "decoder" in result.details:  # a receiver-side decoder ran: its name, mode, steps, latency
        report["decoder"] = result.details["decoder"]
    if answerer is not None:
        answer = answerer(result.x_hat, [query])[0]
        report["task"] = {
            "question": query,
            "answer": answer.text,
            "answerer": answer.answerer,
            "confidence": None if answer.confidence is None else round(answer.confidence, 4),
        }
        if answer.reason:
            report["task"]["reason"] = answer.reason
    return result, report


def write_transmission(out: Path, x: torch.Tensor, result: TransmissionResult, report: dict) -> None:
    """Write :data:`OUTPUTS` into ``out`` (created), each file atomically.

    Shapes:
        x: ``[1, 3, H, W]``.
    """
    from mllmsc.atomic import atomic_write_bytes, atomic_write_text
    from mllmsc.data.io import write_image
    from mllmsc.eval.figures import allocation_image, format_cbr, transmission_report_png

    out.mkdir(parents=True, exist_ok=True)
    size = tuple(x.shape[-2:])
    importance = result.importance
    soft = importance.soft[0] if importance is not None else torch.ones(1, *size)
    allocation = result.allocation
    if allocation is not None:
        k, k_max = allocation.k[0], allocation.k_max
        write_image(out / "allocation.png", allocation_image(k, k_max, size))
        alloc_caption = f"symbols per cell ({allocation.method}, max {k_max})"
    else:
        k, k_max = None, 1
        write_image(out / "allocation.png", torch.full((3, *size), 0.5))
        alloc_caption = f"{result.method}: no per-cell allocation"
    write_image(out / "received.png", result.x_hat[0])
    write_image(out / "importance.png", soft)
    m, s = report["metrics"], report["symbols"]

    def db(v):
        return "n/a" if v is None else f"{v:.2f} dB"

    fade = report.get("fade")
    title = (
        f"{report['method']} over {report['channel']} at {report['snr_db']:g} dB"
        + (f" (this draw: effective {fade['effective_snr_db']:.1f} dB)" if fade else "")
        + f", CBR {format_cbr(report['cbr_target'])}: {s['payload']} payload + {s['side_info']} "
        f"side-info symbols of {s['budget']} (CBR used {report['cbr_used']:.4f})"
    )
    guidance = report["guidance"]
    captions = (
        "original" + (f": '{report['query']}'" if report["query"] else ""),
        f"importance ({guidance['backend']}, ROI {100 * guidance['roi_fraction']:.0f} %)",
        alloc_caption,
        f"received: PSNR {db(m['psnr'])}, ROI {db(m['roi_psnr'])}, background {db(m['background_psnr'])}",
    )
    if "task" in report:
        task = report["task"]
        said = task["answer"] if task["answer"] is not None else f"no answer ({task.get('reason', '')})"
        captions = (*captions[:3], f"{captions[3]}; {task['answerer']} answers: {said}")
    png = transmission_report_png(x[0], soft, k, k_max, result.x_hat[0], title=title, captions=captions)
    atomic_write_bytes(out / "report.png", png)
    atomic_write_text(out / "report.json", json.dumps(report, indent=2) + "\n")

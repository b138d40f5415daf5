"""From a transmission result to its numbers: the one place metrics and reports are computed.

    x, TransmissionResult, roi ──► score() ──► per image {psnr, ms_ssim, roi_psnr, background_psnr, lpips}
                                ──► transmission_report() ──► the report.json of ``mllmsc transmit``

``mllmsc transmit``, ``mllmsc eval`` (one results.csv row per image and setting), ``mllmsc demo``
and the edge service all go through here, so a metric means the same thing everywhere. A value
that cannot be computed (ROI PSNR without an ROI, background PSNR when the ROI is the whole image,
LPIPS without its weights, PSNR of identical images) is ``None`` (JSON ``null``), never a
made-up number.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from mllmsc.types import TransmissionResult

#: Every metric :func:`score` returns, in report order.
METRICS = ("psnr", "ms_ssim", "roi_psnr", "background_psnr", "lpips")


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def score(
    x: torch.Tensor,
    result: TransmissionResult,
    roi: torch.Tensor | None = None,
    *,
    with_lpips: bool = True,
) -> list[dict[str, float | None]]:
    """Metrics of each received image against its original.

    Args:
        x: the images that were sent, in [0, 1].
        result: what a transmission method returned for them.
        roi: the region of interest to score ROI / background PSNR on (true = ROI); ``None``:
            the mask of the importance map the method was given, else no ROI metrics.
        with_lpips: also compute LPIPS (``None`` when its weights are absent); sweeps skip it.

    Returns:
        one dict per image with the keys of :data:`METRICS`; a value is ``None`` when it cannot
        be computed.

    Shapes:
        x: ``[B, 3, H, W]``; roi: ``[B, 1, H, W]`` or ``[1, 1, H, W]`` bool.
    """
    from mllmsc.eval.metrics import background_psnr, lpips, ms_ssim, psnr, roi_psnr

    x_hat = result.x_hat.to(x.device, x.dtype)
    if roi is None and result.importance is not None:
        roi = result.importance.mask
    b = x.shape[0]
    none = [None] * b
    columns = {
        "psnr": psnr(x, x_hat).tolist(),
        "ms_ssim": ms_ssim(x, x_hat).tolist(),
        "roi_psnr": roi_psnr(x, x_hat, roi).tolist() if roi is not None else none,
        "background_psnr": background_psnr(x, x_hat, roi).tolist() if roi is not None else none,
        "lpips": none,
    }
    if with_lpips:
        value = lpips(x, x_hat)
        columns["lpips"] = value.tolist() if value is not None else none
    return [
        {name: None if columns[name][i] is None else _finite(columns[name][i]) for name in METRICS}
        for i in range(b)
    ]


def transmission_report(
    *,
    image: str | Path,
    query: str,
    channel: str,
    snr_db: float,
    cbr: float,
    result: TransmissionResult,
    metrics: dict[str, float | None],
    index: int = 0,
) -> dict:
    """The ``report.json`` of one image (item ``index`` of ``result``), as DESIGN.md §4 fixes it.

    ``symbols.payload + symbols.side_info == symbols.total <= symbols.budget`` and
    ``cbr_used == total / (3·H·W)`` hold by construction (they are read off the symbol bill).
    On a fading channel ``"fade": {"mean_gain", "effective_snr_db"}`` records the realised draw.
    """
    bill = result.symbols
    payload, side = int(bill.payload[index]), int(bill.side_info[index])
    importance = result.importance
    report = {
        "image": str(image),
        "query": query,
        "height": int(bill.height),
        "width": int(bill.width),
        "channel": channel,
        "snr_db": float(snr_db),
        "cbr_target": float(cbr),
        "cbr_used": (payload + side) / (3 * bill.height * bill.width),
        "method": result.method,
        "symbols": {
            "budget": int(bill.budget),
            "payload": payload,
            "side_info": side,
            "total": payload + side,
        },
        "guidance": {
            "backend": importance.backend if importance is not None else "none",
            "roi_fraction": float(importance.mask[index].float().mean()) if importance is not None else 1.0,
            "used_query": bool(importance.used_query) if importance is not None else False,
        },
        "metrics": dict(metrics),
        "latency_ms": {k: round(float(v), 3) for k, v in result.latency_ms.items()},
    }
    channel_out = result.channel
    if channel_out is not None and channel_out.h is not None:
        # The realised fade, so a lucky or unlucky draw can be read as such: the mean |h|² over
        # this image's symbols, and the SNR it amounts to.
        h = channel_out.h[min(index, channel_out.h.shape[0] - 1)]
        power = float(h.abs().square().double().mean())
        report["fade"] = {
            "mean_gain": round(power, 6),
            "effective_snr_db": round(float(snr_db) + 10 * math.log10(max(power, 1e-30)), 3),
        }
    if "fallback" in result.details:
        report["guidance"]["fallback"] = result.details["fallback"]
    if result.lost is not None and bool(result.lost[index]):
        report["lost"] = True
    return report

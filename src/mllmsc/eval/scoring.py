"""From a transmission result to its numbers: the one place metrics and reports are computed.

    x, TransmissionResult, roi ──► score() ──► per image {psnr, ms_ssim, roi_psnr, background_psnr,
                                                          vif, niqe, lpips, dists}
                                ──► transmission_report() ──► the report.json of ``mllmsc transmit``

``mllmsc transmit``, ``mllmsc eval`` (one results.csv row per image and setting), ``mllmsc demo``
and the edge service all go through here, so a metric means the same thing everywhere. A value
that cannot be computed (ROI PSNR without an ROI, background PSNR when the ROI is the whole image,
VIF / NIQE of an image too small for them, LPIPS / DISTS without their weights, PSNR of identical
images) is ``None`` (JSON ``null``), never a made-up number; so is an optional metric the caller
did not ask for.

The :data:`OPTIONAL` metrics see what PSNR and MS-SSIM miss (texture a generative decoder invents
or loses) and cost more: on one 768×512 image VIF takes ~0.3 s and NIQE ~0.15 s on one core (the
codec itself ~35 ms); DISTS, where its VGG16 weights are cached, runs VGG16 on both images, seconds
on a CPU. A single transmission computes them all; sweeps choose (``mllmsc eval --metrics``).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from pathlib import Path

import torch

from mllmsc.types import TransmissionResult

#: Every metric :func:`score` returns, in report order.
METRICS = ("psnr", "ms_ssim", "roi_psnr", "background_psnr", "vif", "niqe", "lpips", "dists")
#: The metrics computed only on request (``extra``); the others always are.
OPTIONAL = ("vif", "niqe", "lpips", "dists")


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def score(
    x: torch.Tensor,
    result: TransmissionResult,
    roi: torch.Tensor | None = None,
    *,
    extra: Collection[str] | None = None,
    with_lpips: bool = True,
) -> list[dict[str, float | None]]:
    """Metrics of each received image against its original.

    Args:
        x: the images that were sent, in [0, 1].
        result: what a transmission method returned for them.
        roi: the region of interest to score ROI / background PSNR on (true = ROI); ``None``:
            the mask of the importance map the method was given, else no ROI metrics.
        extra: which of the :data:`OPTIONAL` metrics to compute (the others are ``None``);
            ``None``: all of them.
        with_lpips: ``False`` computes none of the optional metrics when ``extra`` is not given
            (the switch sweeps used before there were more than LPIPS).

    Returns:
        one dict per image with the keys of :data:`METRICS`; a value is ``None`` when it cannot
        be computed or was not asked for.

    Raises:
        ValueError: ``extra`` names a metric not in :data:`OPTIONAL`.

    Shapes:
        x: ``[B, 3, H, W]``; roi: ``[B, 1, H, W]`` or ``[1, 1, H, W]`` bool.
    """
    from mllmsc.eval import metrics

    if extra is None:
        extra = OPTIONAL if with_lpips else ()
    unknown = sorted(set(extra) - set(OPTIONAL))
    if unknown:
        raise ValueError(f"unknown optional metric {unknown[0]!r}; available: {', '.join(OPTIONAL)}")
    x_hat = result.x_hat.to(x.device, x.dtype)
    if roi is None and result.importance is not None:
        roi = result.importance.mask
    b = x.shape[0]
    none = [None] * b
    columns = {
        "psnr": metrics.psnr(x, x_hat).tolist(),
        "ms_ssim": metrics.ms_ssim(x, x_hat).tolist(),
        "roi_psnr": metrics.roi_psnr(x, x_hat, roi).tolist() if roi is not None else none,
        "background_psnr": metrics.background_psnr(x, x_hat, roi).tolist() if roi is not None else none,
    }
    optional = {
        "vif": lambda: metrics.vif(x_hat, x),  # asymmetric: the original is the reference
        "niqe": lambda: metrics.niqe(x_hat),  # no reference: the received image alone
        "lpips": lambda: metrics.lpips(x, x_hat),
        "dists": lambda: metrics.dists(x_hat, x),
    }
    for name, compute in optional.items():
        value = compute() if name in extra else None
        columns[name] = value.tolist() if value is not None else none
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

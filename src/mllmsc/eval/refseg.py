"""Guidance quality on synthetic AR scenes: IoU of each backend's mask with the expression's mask.

    scenes (seed, n) ──► every referring expression / question ──► guidance(image, text) ──► mask
        ──► IoU with the ground truth ──► results.csv (per query), summary.csv (per backend: mean IoU
            over all queries), summary_by_type.csv (per backend × type, questions by subtype)

No channel state is given, so no backend tightens its mask: this scores the guidance alone.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections.abc import Callable
from pathlib import Path

import torch

from mllmsc.atomic import atomic_write_text

RESULT_COLUMNS = [
    "scene", "expression", "type", "text", "backend", "ran", "used_query", "iou", "latency_ms",
]  # fmt: skip


def evaluate_refseg(
    backends: dict[str, Callable],
    *,
    scenes: int,
    seed: int,
    size: int = 256,
    backgrounds: list[Path] | None = None,
    style: str = "standard",
    progress: Callable[[int, int], None] | None = None,
) -> list[dict[str, str]]:
    """IoU of every backend on every expression of ``scenes`` generated scenes.

    Args:
        backends: name → built guidance backend.
        scenes, seed, size, backgrounds, style: the scene set
            (:func:`mllmsc.data.scenes.generate_scene`).
        progress: called with (done, total) scenes.
    """
    from mllmsc.data.scenes import generate_scene
    from mllmsc.eval.metrics import iou

    rows = []
    for i in range(scenes):
        scene = generate_scene(seed, i, size=size, backgrounds=backgrounds or (), style=style)
        x = torch.from_numpy(scene.image).permute(2, 0, 1).float()[None] / 255
        for j, expr in enumerate(scene.expressions):
            kind = expr.type if expr.subtype is None else f"{expr.type}:{expr.subtype}"
            truth = torch.from_numpy(expr.mask)[None, None]
            for name, guide in backends.items():
                result = guide(x, expr.text, None)
                rows.append({
                    "scene": str(i), "expression": str(j), "type": kind, "text": expr.text,
                    "backend": name, "ran": result.backend, "used_query": str(int(result.used_query)),
                    "iou": f"{float(iou(result.mask, truth)[0]):.6f}",
                    "latency_ms": f"{result.latency_ms:.2f}",
                })  # fmt: skip
        if progress:
            progress(i + 1, scenes)
    return rows


def _mean_ci(values: list[float]) -> tuple[str, str]:
    mean = statistics.fmean(values)
    if len(values) < 2:
        return f"{mean:.4f}", ""
    return f"{mean:.4f}", f"{1.96 * statistics.stdev(values) / math.sqrt(len(values)):.4f}"


def summaries(rows: list[dict[str, str]]) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(per backend, per backend × type): mean IoU, 95 % normal interval, n, median latency."""
    by_backend: dict[str, list[dict[str, str]]] = {}
    by_type: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        by_backend.setdefault(r["backend"], []).append(r)
        by_type.setdefault((r["backend"], r["type"]), []).append(float(r["iou"]))
    summary = []
    for name, group in by_backend.items():
        mean, ci = _mean_ci([float(r["iou"]) for r in group])
        summary.append({
            "backend": name, "ran": "/".join(sorted({r["ran"] for r in group})), "iou": mean, "iou_ci95": ci,
            "n": str(len(group)),
            "latency_ms": f"{statistics.median(float(r['latency_ms']) for r in group):.2f}",
        })  # fmt: skip
    per_type = []
    for (name, kind), values in sorted(by_type.items()):
        mean, ci = _mean_ci(values)
        per_type.append({"backend": name, "type": kind, "iou": mean, "iou_ci95": ci, "n": str(len(values))})
    return summary, per_type


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    """Write ``rows`` (dicts with the same keys) as CSV, atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())

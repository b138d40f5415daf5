"""A sweep folder as one page: Markdown (``report.md``) and HTML (``report.html``).

Reads what :mod:`mllmsc.eval.sweep` wrote (``summary.csv`` and the plots) and lays out one PSNR /
MS-SSIM table per channel (methods × SNR for each CBR, mean ± 95 % interval, lost images), an ROI
PSNR table alike when the sweep had ROI masks, and the figures (those the sweep drew).
"""

from __future__ import annotations

import csv
import html
from pathlib import Path

from mllmsc.atomic import atomic_write_text
from mllmsc.errors import UserError

FIGURES = (
    ("psnr_vs_snr.png", "PSNR against SNR"),
    ("ms_ssim_vs_snr.png", "MS-SSIM against SNR"),
    ("psnr_vs_cbr.png", "PSNR against CBR"),
    ("ms_ssim_vs_cbr.png", "MS-SSIM against CBR"),
    ("roi_vs_background.png", "ROI against background PSNR"),
)


def _cell(row: dict[str, str], metric: str, digits: int) -> str:
    """``mean ± half-width`` of one summary row, with its lost images and, for ROI PSNR, its count."""
    if not row.get(metric):
        return "—"
    text = f"{float(row[metric]):.{digits}f}"
    if row.get(f"{metric}_ci95"):
        text += f" ± {float(row[f'{metric}_ci95']):.{digits}f}"
    if row.get("lost", "0") not in ("", "0"):
        text += f" ({row['lost']} lost)"
    # An empty ROI mask leaves its image out of the ROI mean (roi_n < n): say how many it covers.
    # summary.csv files from before roi_n existed have no such column and get no note.
    if metric == "roi_psnr" and row.get("roi_n") and row["roi_n"] != row.get("n"):
        text += f" ({row['roi_n']} of {row['n']} images)"
    return text


def _metrics(summary: list[dict[str, str]]) -> list[tuple[str, int, str]]:
    """(column, decimals, label) of each table kind; ROI PSNR only when the sweep had ROI masks."""
    metrics = [("psnr", 2, "PSNR (dB)"), ("ms_ssim", 4, "MS-SSIM")]
    if any(r.get("roi_psnr") for r in summary):
        metrics.append(("roi_psnr", 2, "ROI PSNR (dB)"))
    return metrics


def _tables(summary: list[dict[str, str]]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) per channel × metric × CBR."""
    tables = []
    snrs = sorted({float(r["snr_db"]) for r in summary})
    metrics = _metrics(summary)
    for channel in sorted({r["channel"] for r in summary}):
        for metric, digits, label in metrics:
            for cbr in sorted({float(r["cbr"]) for r in summary}):
                header = ["method", *(f"{s:g} dB" for s in snrs)]
                rows = []
                for method in sorted({r["method"] for r in summary}):
                    by_snr = {
                        float(r["snr_db"]): r
                        for r in summary
                        if r["channel"] == channel and r["method"] == method and float(r["cbr"]) == cbr
                    }
                    if by_snr:
                        rows.append(
                            [
                                method,
                                *(_cell(by_snr[s], metric, digits) if s in by_snr else "—" for s in snrs),
                            ]
                        )
                tables.append((f"{label}, {channel}, CBR {cbr:.4g}", header, rows))
    return tables


def write_report(folder: Path) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` into a sweep folder; returns their paths."""
    path = folder / "summary.csv"
    if not path.is_file():
        raise UserError(f"{folder} has no summary.csv: run `mllmsc eval --out {folder}` first")
    with path.open(newline="", encoding="utf-8") as f:
        summary = list(csv.DictReader(f))
    if not summary:
        raise UserError(f"{path} is empty")
    tables = _tables(summary)
    figures = [(name, title) for name, title in FIGURES if (folder / name).is_file()]
    n = max(int(r["n"]) for r in summary)

    md = [f"# Sweep report: {folder.name}", "", f"{n} images per setting; mean ± 95 % t-interval.", ""]
    for title, header, rows in tables:
        md += [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        md += ["| " + " | ".join(row) + " |" for row in rows] + [""]
    md += [f"![{title}]({name})\n" for name, title in figures]
    md_path = folder / "report.md"
    atomic_write_text(md_path, "\n".join(md))

    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Sweep report: {esc(folder.name)}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}img{max-width:100%}</style>",
        "</head><body>",
        f"<h1>Sweep report: {esc(folder.name)}</h1><p>{n} images per setting; mean ± 95 % t-interval.</p>",
    ]
    for title, header, rows in tables:
        parts.append(
            f"<h2>{esc(title)}</h2><table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>"
        )
        parts += ["<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows]
        parts.append("</table>")
    parts += [f"<h2>{esc(title)}</h2><img src='{esc(name)}' alt='{esc(title)}'>" for name, title in figures]
    parts.append("</body></html>")
    html_path = folder / "report.html"
    atomic_write_text(html_path, "\n".join(parts))
    return md_path, html_path

"""``mllmsc report DIR``: a sweep folder as one Markdown and HTML page."""

from __future__ import annotations

from pathlib import Path

import typer


def report(folder: Path = typer.Argument(..., help="Output folder of `mllmsc eval`.")) -> None:
    """Turn a sweep folder (summary.csv + plots) into report.md and report.html."""
    from rich.console import Console

    from mllmsc.eval.report import write_report

    md, page = write_report(folder)
    Console().print(f"wrote {md} and {page}")

"""Write a benchmark's Markdown into its own marked section of BENCHMARKS.md.

Each script owns the text between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->`` and rewrites it
(atomically) on every run; a missing section is appended.
"""

from __future__ import annotations

import re
from pathlib import Path

from mllmsc.atomic import atomic_write_text

BENCHMARKS = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"


def replace_section(name: str, markdown: str, path: Path = BENCHMARKS) -> None:
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{markdown.strip()}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else f"{text.rstrip()}\n\n{block}\n"
    atomic_write_text(path, text)

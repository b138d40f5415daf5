"""Checkpoints shipped with the package: ``<name>/config.json`` + ``<name>/model.safetensors``.

They are package data, so a non-editable ``pip install .`` has them too.
"""

from __future__ import annotations

from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent


def shipped_weights() -> list[str]:
    """Names of the shipped checkpoints (folders holding both files)."""
    return sorted(
        p.name
        for p in WEIGHTS_DIR.iterdir()
        if (p / "config.json").is_file() and (p / "model.safetensors").is_file()
    )


def weights_path(name: str) -> Path:
    """Folder of the shipped checkpoint ``name``; a missing one is a clear error."""
    from mllmsc.errors import UserError

    path = WEIGHTS_DIR / name
    if not (path / "config.json").is_file() or not (path / "model.safetensors").is_file():
        available = ", ".join(shipped_weights()) or "none"
        raise UserError(f"shipped weights {name!r} not found in {WEIGHTS_DIR} (available: {available})")
    return path

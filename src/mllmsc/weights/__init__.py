"""Checkpoints shipped with the package: ``<name>/config.json`` + ``<name>/model.safetensors``.

They are package data, so a non-editable ``pip install .`` has them too. Each folder is written by
and loaded with its model's ``save_pretrained`` / ``from_pretrained`` (:mod:`mllmsc.pretrained`).
"""

from __future__ import annotations

from pathlib import Path

from mllmsc.pretrained import CONFIG_NAME, WEIGHTS_NAME, WeightsError

WEIGHTS_DIR = Path(__file__).resolve().parent


def shipped_weights() -> list[str]:
    """Names of the shipped checkpoints (folders holding both files)."""
    return sorted(
        p.name for p in WEIGHTS_DIR.iterdir() if (p / CONFIG_NAME).is_file() and (p / WEIGHTS_NAME).is_file()
    )


def weights_path(name: str) -> Path:
    """Folder of the shipped checkpoint ``name``.

    Raises:
        WeightsError: no such shipped checkpoint (the message lists the ones there are).
    """
    path = WEIGHTS_DIR / name
    if not (path / CONFIG_NAME).is_file() or not (path / WEIGHTS_NAME).is_file():
        available = ", ".join(shipped_weights()) or "none"
        raise WeightsError(f"shipped weights {name!r} not found in {WEIGHTS_DIR} (available: {available})")
    return path


__all__ = ["WEIGHTS_DIR", "shipped_weights", "weights_path"]

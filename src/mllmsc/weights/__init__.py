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


def save_model(
    directory: str | Path,
    state_dict: dict,
    config: dict,
    *,
    dtype=None,
    metadata: dict[str, str] | None = None,
) -> None:
    """Write ``config.json`` and ``model.safetensors`` to ``directory`` (created), each atomically.

    Args:
        state_dict: the module's tensors; floating ones are stored as ``dtype`` when given.
        config: JSON-able model config (with its ``"model"`` name).
        metadata: strings for the safetensors header (provenance: step, preset, ...).
    """
    import json

    from safetensors.torch import save

    from mllmsc.atomic import atomic_write_bytes, atomic_write_text

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {
        n: (t.to(dtype) if dtype is not None and t.is_floating_point() else t).detach().contiguous().cpu()
        for n, t in state_dict.items()
    }
    atomic_write_text(directory / "config.json", json.dumps(config, indent=2) + "\n")
    header = {**(metadata or {}), "format": "pt"}
    atomic_write_bytes(directory / "model.safetensors", save(state, metadata=header))

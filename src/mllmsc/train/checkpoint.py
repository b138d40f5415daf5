"""Atomic training checkpoints in safetensors + JSON (nothing is ever unpickled).

Layout under ``out_dir/checkpoints/``::

    step-00012000/
        config.json          the model config (so the model's from_pretrained(dir) loads model.safetensors)
        model.safetensors    the raw (optimised) weights
        ema.safetensors      the EMA weights (what gets exported and evaluated)
        optimizer.safetensors  Adam's state tensors, flattened as ``state.<param index>.<name>``
        state.json           step, elapsed time, optimiser param groups and scalar entries,
                             the training config
    latest                   the name of the newest complete checkpoint

A checkpoint is written into a hidden temporary folder and renamed into place (atomic on POSIX),
then ``latest`` is replaced atomically: a kill at any moment leaves the previous checkpoint intact.
The two newest checkpoints are kept.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from mllmsc.atomic import atomic_write_text

KEEP = 2


def _state_tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    return {n: t.detach().contiguous().cpu() for n, t in module.state_dict().items()}


def flatten_optimizer(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer state dict into tensors (for safetensors) and JSON-able metadata."""
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for index, entry in sd["state"].items():
        for name, value in entry.items():
            key = f"state.{index}.{name}"
            if isinstance(value, torch.Tensor) and value.dim() > 0:
                tensors[key] = value.detach().contiguous().cpu()
            elif isinstance(value, torch.Tensor):  # 0-d (Adam's step): keep dtype in the JSON
                scalars[key] = {"value": value.item(), "dtype": str(value.dtype).removeprefix("torch.")}
            else:
                scalars[key] = {"value": value, "dtype": None}
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    """Inverse of :func:`flatten_optimizer`: a state dict for ``optimizer.load_state_dict``."""
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        _, index, name = key.split(".", 2)
        state.setdefault(int(index), {})[name] = value
    for key, item in meta["scalars"].items():
        _, index, name = key.split(".", 2)
        v = item["value"]
        if item["dtype"] is not None:
            v = torch.tensor(v, dtype=getattr(torch, item["dtype"]))
        state.setdefault(int(index), {})[name] = v
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(
    out_dir: str | Path,
    *,
    step: int,
    model: nn.Module,
    ema: nn.Module,
    optimizer: torch.optim.Optimizer,
    model_config: dict,
    state: dict,
) -> Path:
    """Write checkpoint ``step`` atomically; returns its folder."""
    root = Path(out_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    name = f"step-{step:08d}"
    final = root / name
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{name}."))
    try:
        save_file(_state_tensors(model), str(tmp / "model.safetensors"))
        save_file(_state_tensors(ema), str(tmp / "ema.safetensors"))
        opt_tensors, opt_meta = flatten_optimizer(optimizer)
        save_file(opt_tensors, str(tmp / "optimizer.safetensors"))
        (tmp / "config.json").write_text(json.dumps(model_config, indent=2) + "\n", encoding="utf-8")
        payload = {**state, "step": step, "optimizer": opt_meta}
        (tmp / "state.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; checkpoints are ordinary files
        for f in tmp.iterdir():
            os.chmod(f, 0o644)
        if final.exists():  # a re-save of the same step (e.g. after a resume): replace it
            shutil.rmtree(final)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    atomic_write_text(root / "latest", name + "\n")
    for old in sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("step-"))[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    """The newest complete checkpoint folder under ``out_dir``, or ``None``."""
    root = Path(out_dir) / "checkpoints"
    pointer = root / "latest"
    if pointer.is_file():
        folder = root / pointer.read_text(encoding="utf-8").strip()
        if (folder / "state.json").is_file():
            return folder
    # The pointer is written after the rename, so fall back to the newest complete folder.
    done = sorted(p for p in root.glob("step-*") if (p / "state.json").is_file()) if root.is_dir() else []
    return done[-1] if done else None


def load_checkpoint(
    folder: str | Path, *, model: nn.Module, ema: nn.Module, optimizer: torch.optim.Optimizer | None
) -> dict:
    """Load weights (and optimizer state) from ``folder`` into the given objects; returns state.json."""
    folder = Path(folder)
    state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    model.load_state_dict(load_file(str(folder / "model.safetensors")))
    ema.load_state_dict(load_file(str(folder / "ema.safetensors")))
    if optimizer is not None:
        tensors = load_file(str(folder / "optimizer.safetensors"))
        optimizer.load_state_dict(unflatten_optimizer(tensors, state["optimizer"]))
    return state

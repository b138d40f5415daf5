"""Hugging Face models from this machine only: probe, load, and say clearly what is missing.

``mllmsc`` never downloads at run time. A model is a local folder saved with ``save_pretrained``
or a hub id already in the Hugging Face cache; :func:`model_present` checks that with file-system
probes only (``local_files_only``; a network probe would wait ~26 s for an unreachable hub), and
:func:`load_pretrained` loads it or raises a :class:`~mllmsc.errors.UserError` that says what to
download and where to put it. ``transformers`` is imported by the callers, only when they build.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from mllmsc.errors import UserError


def is_path(model: str) -> bool:
    """A string that names a folder rather than a hub id ("owner/name")."""
    return (
        os.path.isabs(model) or model.startswith((".", "~")) or os.path.exists(model) or model.count("/") != 1
    )


def missing_model_error(kind: str, model: str, option: str = "--guidance-model") -> UserError:
    """The one-line error for weights that are not on this machine."""
    if is_path(model):
        return UserError(
            f"{kind} model folder {model!r} not found or incomplete (it needs config.json, the "
            f"weights and the processor files saved by save_pretrained); pass {option} FOLDER"
        )
    return UserError(
        f"{kind} weights {model!r} are not on this machine and mllmsc never downloads at run time: "
        f"on a machine with internet run `hf download {model}` (or `huggingface-cli download {model}`)"
        f" and copy the Hugging Face cache here (~/.cache/huggingface/hub, or set HF_HOME), or save "
        f"the model to a folder and pass {option} FOLDER"
    )


def model_present(model: str) -> bool:
    """Whether ``model`` (a folder or a hub id) is on this machine; never touches the network.

    A hub id is looked up with ``huggingface_hub.try_to_load_from_cache`` (a file-system probe).
    """
    if is_path(model):
        p = Path(model).expanduser()
        return (p / "config.json").is_file()
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - a dependency of transformers
        return False
    config = try_to_load_from_cache(model, "config.json")
    if not isinstance(config, str):
        return False
    return any(
        isinstance(try_to_load_from_cache(model, name), str)
        for name in ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
    )


def resolve_dtype(dtype: str | torch.dtype | None, device: str) -> torch.dtype:
    """``"bfloat16"``/``"bf16"``/``"float16"``/``"fp16"``/``"float32"``/``"auto"``/None → a dtype."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype is None or dtype == "auto":
        return torch.float32 if str(device).startswith("cpu") else torch.float16
    table = {
        "bfloat16": torch.bfloat16,
        "bf16": torch.bfloat16,
        "float16": torch.float16,
        "fp16": torch.float16,
        "half": torch.float16,
        "float32": torch.float32,
        "fp32": torch.float32,
        "float": torch.float32,
    }
    if dtype not in table:
        raise UserError(f"unknown dtype {dtype!r}; choose one of: {', '.join(table)}, auto")
    return table[dtype]


def load_pretrained(kind: str, model_cls, processor_cls, model: str, *, device: str, dtype):
    """``(model, processor)`` from a local folder or the HF cache, or a clear UserError."""
    if not model_present(model):
        raise missing_model_error(kind, model)
    path = str(Path(model).expanduser()) if is_path(model) else model
    try:
        net = model_cls.from_pretrained(path, local_files_only=True, dtype=dtype)
        processor = processor_cls.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise UserError(
            f"{kind} model {model!r} could not be loaded ({' '.join(str(exc).split())[:300]})"
        ) from exc
    try:
        net = net.to(device)
    except (RuntimeError, AssertionError) as exc:
        raise UserError(f"cannot put the {kind} model on device {device!r}: {exc}") from exc
    return net.eval(), processor

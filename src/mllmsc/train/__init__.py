"""Training entry point: ``mllmsc train --preset FILE.toml [--set k=v] [--out DIR] [--resume]``.

A preset's ``task`` key picks the trainer (``codec`` → :func:`mllmsc.train.codec.train_codec`,
``refseg`` → :func:`mllmsc.train.refseg.train_refseg`).
Trainers register in :data:`TASKS` with a function ``(preset_path, overrides, out_dir, resume,
progress) -> Path``; heavy modules are imported only when their task runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from mllmsc.config import ConfigError, apply_overrides, load_preset, read_preset
from mllmsc.registry import Registry

TASKS: Registry[Callable[..., Path]] = Registry("training task")


@TASKS.register("codec")
def _train_codec_task(
    preset: Path, overrides: Sequence[str], out_dir: Path, resume: bool, progress: bool
) -> Path:
    from mllmsc.train.codec import CodecTrainConfig, train_codec

    cfg = apply_overrides(load_preset(CodecTrainConfig, preset), overrides)
    return train_codec(cfg, out_dir, resume=resume, progress=progress)


@TASKS.register("refseg")
def _train_refseg_task(
    preset: Path, overrides: Sequence[str], out_dir: Path, resume: bool, progress: bool
) -> Path:
    from mllmsc.train.refseg import RefSegTrainConfig, train_refseg

    cfg = apply_overrides(load_preset(RefSegTrainConfig, preset), overrides)
    return train_refseg(cfg, out_dir, resume=resume, progress=progress)


def preset_task(preset_path: str | Path) -> str:
    """The ``task`` key of a TOML preset.

    Raises:
        ConfigError: the file is missing, not TOML, or has no ``task``.
    """
    task = read_preset(preset_path).get("task")
    if not isinstance(task, str):
        raise ConfigError(f"preset {preset_path} has no 'task' key (e.g. task = \"codec\")")
    return task


def run(
    preset_path: str | Path,
    overrides: Sequence[str] = (),
    *,
    out_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
) -> Path:
    """Train what the preset's ``task`` names; returns the last checkpoint folder.

    Args:
        preset_path: a TOML preset with a ``task`` key.
        overrides: ``key=value`` strings (dotted keys reach nested tables, e.g. ``model.k_max=128``).
        out_dir: output folder; defaults to ``runs/<task>``.
        resume: continue from the newest checkpoint in ``out_dir``.
        progress: show progress.

    Raises:
        ConfigError: unknown task, or a bad preset / override.
    """
    task = preset_task(preset_path)
    if task not in TASKS:
        raise ConfigError(f"unknown training task {task!r}; choose one of: {', '.join(TASKS.available())}")
    out = Path(out_dir) if out_dir is not None else Path("runs") / task
    return TASKS.get(task)(Path(preset_path), list(overrides), out, resume, progress)


__all__ = ["TASKS", "preset_task", "run"]

"""Training entry point: ``mllmsc train --preset FILE.toml [--set k=v] [--out DIR] [--resume]``.

A preset's ``task`` key picks a :class:`~mllmsc.train.trainer.TrainTask` from :data:`TASKS`
(``codec`` → :class:`mllmsc.train.codec.CodecTask`, ``refseg`` → :class:`mllmsc.train.refseg.RefSegTask`,
``vqa`` → :class:`mllmsc.train.vqa.VQATask`, ``deep-jscc`` → :class:`mllmsc.train.deep_jscc.DeepJSCCTask`,
``generative`` → :class:`mllmsc.train.generative.GenerativeTask`);
the one :class:`~mllmsc.train.trainer.Trainer` runs it. A registration returns the task class and
imports its module only when called, so ``mllmsc --help`` stays fast. Adding a task: see
:mod:`mllmsc.train.trainer`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mllmsc.config import ConfigError, apply_overrides, load_preset, read_preset
from mllmsc.registry import Registry

if TYPE_CHECKING:
    from mllmsc.train.trainer import TrainTask

#: Training tasks by the name a preset's ``task`` gives; each factory returns the task class.
TASKS: Registry[type[TrainTask]] = Registry("training task")


@TASKS.register("codec")
def _codec() -> type[TrainTask]:
    from mllmsc.train.codec import CodecTask

    return CodecTask


@TASKS.register("deep-jscc")
def _deep_jscc() -> type[TrainTask]:
    from mllmsc.train.deep_jscc import DeepJSCCTask

    return DeepJSCCTask


@TASKS.register("generative")
def _generative() -> type[TrainTask]:
    from mllmsc.train.generative import GenerativeTask

    return GenerativeTask


@TASKS.register("refseg")
def _refseg() -> type[TrainTask]:
    from mllmsc.train.refseg import RefSegTask

    return RefSegTask


@TASKS.register("vqa")
def _vqa() -> type[TrainTask]:
    from mllmsc.train.vqa import VQATask

    return VQATask


def task_class(name: str) -> type[TrainTask]:
    """The task class registered as ``name``.

    Raises:
        ConfigError: no such task (the message lists the registered ones).
    """
    if name not in TASKS:
        raise ConfigError(f"unknown training task {name!r}; choose one of: {', '.join(TASKS.available())}")
    factory: Callable[[], type[TrainTask]] = TASKS.get(name)
    return factory()


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
) -> Path | None:
    """Train what the preset's ``task`` names; returns the last checkpoint folder.

    Args:
        preset_path: a TOML preset with a ``task`` key.
        overrides: ``key=value`` strings (dotted keys reach nested tables, e.g. ``model.k_max=128``).
        out_dir: output folder; defaults to ``runs/<task>``.
        resume: continue from the newest checkpoint in ``out_dir``.
        progress: show progress.

    Raises:
        ConfigError: unknown task, a bad preset / override, or what :meth:`Trainer.fit
            <mllmsc.train.trainer.Trainer.fit>` raises.
    """
    from mllmsc.train.trainer import Trainer

    name = preset_task(preset_path)
    task = task_class(name)
    cfg = apply_overrides(load_preset(task.config_class, preset_path), overrides)
    out = Path(out_dir) if out_dir is not None else Path("runs") / name
    return Trainer(task(cfg), out, resume=resume, progress=progress).fit()


def export_weights(checkpoint: str | Path, directory: str | Path, *, fp16: bool | None = None) -> Path:
    """A checkpoint's EMA weights as a shipped model folder (:func:`mllmsc.train.trainer.export_weights`)."""
    from mllmsc.train.trainer import export_weights as export

    return export(checkpoint, directory, fp16=fp16)


__all__ = ["TASKS", "export_weights", "preset_task", "run", "task_class"]

"""One training loop for every model this project trains: :class:`Trainer` plus per-task pieces.

The :class:`Trainer` owns everything a run needs beyond the model and its data: resume from the
newest checkpoint, ``init=`` from shipped weights (their step and hours continue, the fresh
optimizer re-warms), the learning-rate schedule, EMA, gradient clipping, skipping of non-finite
steps, rollback on divergence, DDP under torchrun, device choice, thread tuning (and giving the
thread count back), ``log.csv``, periodic evaluation, progress, ``max_minutes``, and
SIGINT/SIGTERM → checkpoint and stop. A :class:`TrainTask` supplies what differs per model::

    Trainer ─► task.model_config() / same_model(saved)    which model (fresh, or checked against a checkpoint)
            ─► task.build_model(config), task.optimizer(model)
            ─► task.setup(model)                         a fresh run only, before step 0
            ─► task.batches(step, attempt)               the data, from `step` on (again after a rollback)
            ─► task.loss(net, batch) → loss, scalars     every step
            ─► task.load_eval(), task.evaluate(ema)      rank 0, at step 0, every eval_minutes, at the end

Adding a task is one module and one registration in :data:`mllmsc.train.TASKS`. The smallest real
one, a linear layer that learns to copy random vectors (``ToyNet``, a ``nn.Linear`` with
:class:`~mllmsc.pretrained.PretrainedMixin`; it runs in ``tests/train/test_trainer.py``)::

    # src/mllmsc/train/toy.py
    @dataclass(frozen=True)
    class ToyConfig(TrainConfig):
        task: str = "toy"
        model: ToyNetConfig = field(default_factory=ToyNetConfig)

    class ToyTask(TrainTask[ToyConfig]):
        name, config_class, model_class, preset = "toy", ToyConfig, ToyNet, "configs/toy.toml"

        def batches(self, step, attempt):
            g = torch.Generator().manual_seed(self.cfg.seed + 1_000_003 * attempt + step)
            while True:
                yield torch.rand(self.local_batch, self.cfg.model.width, generator=g).to(self.device)

        def loss(self, net, x):
            return F.mse_loss(net(x), x), {}

    # src/mllmsc/train/__init__.py
    @TASKS.register("toy")
    def _toy():
        from mllmsc.train.toy import ToyTask
        return ToyTask

and ``task = "toy"`` in a preset. ``src/mllmsc/train/codec.py`` and ``refseg.py`` are the full
examples (evaluation, a KLT fit before step 0, special param groups, a data-loader worker).

Outputs in ``out_dir``: ``log.csv`` (``step, hours, loss, <task scalars>, lr, <task metric>,
threads``), ``train_config.json`` (the preset as trained, model config included) and
``checkpoints/`` (:mod:`mllmsc.train.checkpoint`); :func:`export_weights` turns a checkpoint's EMA
weights into a shipped model folder.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import json
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import torch
from torch import nn

from mllmsc.atomic import atomic_write_text
from mllmsc.config import ConfigError, to_dict
from mllmsc.pretrained import WeightsError
from mllmsc.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from mllmsc.train.loop import (
    DEVICE_PATTERN,
    Distributed,
    StopSignal,
    ThreadTuner,
    ema_update,
    lr_at,
    resolve_path,
    training_device,
    trim_csv,
    weights_provenance,
)

# Consecutive non-finite steps tolerated before the run stops (then something is really wrong).
MAX_BAD_STEPS = 20
# Rollbacks halve the learning rate; below this scale the run gives up instead.
MIN_LR_SCALE = 1 / 1024


@dataclass(frozen=True)
class TrainConfig:
    """The loop's part of every preset; a task's preset dataclass extends it (and adds ``model``).

    Attributes:
        task: the task name (:data:`mllmsc.train.TASKS`).
        steps: the step the run ends at (a resumed or ``init=`` run counts on from its step).
        batch: the global batch (split over the processes under torchrun).
        lr, lr_min, warmup: linear warm-up to ``lr``, then cosine decay to ``lr_min`` at ``steps``.
        grad_clip: gradient-norm clip (0 disables it).
        ema_decay: decay of the EMA weights (what is evaluated and exported).
        seed: seeds the model's initialisation and the task's data.
        threads: intra-op threads (split over the processes under torchrun).
        adaptive_threads: measure 1 thread against ``threads`` now and then and keep the faster.
        log_every: steps per ``log.csv`` row (and per divergence check).
        ckpt_minutes, ckpt_every: checkpoint every this many minutes, or, when ``ckpt_every`` > 0,
            every this many steps.
        eval_minutes: minutes between evaluations (also at step 0 of a fresh run and at the end).
        max_minutes: stop (with a checkpoint) after this many minutes of this session; 0: no limit.
        diverge_factor: a logging window whose mean loss exceeds this many times the best window
            so far is a divergence: the run rolls back to the last checkpoint and halves the
            learning rate (0 disables the guard).
        init: a shipped model folder (``config.json`` + ``model.safetensors``) to start from when
            ``out_dir`` holds no checkpoint: a new session continues from the committed weights
            (checkpoints with optimizer state stay out of git). Step and hours continue from the
            weights' metadata; the fresh optimizer re-warms over ``warmup`` steps.
        restart_schedule: with ``init``, start the warm-up and the cosine afresh at the weights'
            step, over the steps this run adds (an experiment from shipped weights), instead of
            continuing the global schedule, whose rate near its end is close to ``lr_min``.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (the rank's GPU under torchrun
            with CUDA, else ``"cuda"`` when torch sees one, else ``"cpu"``).
    """

    task: str = ""
    steps: int = 1000
    batch: int = 16
    lr: float = 1e-3
    lr_min: float = 1e-5
    warmup: int = 100
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    seed: int = 0
    threads: int = 2
    adaptive_threads: bool = True
    log_every: int = 25
    ckpt_minutes: float = 10.0
    ckpt_every: int = 0
    eval_minutes: float = 10.0
    max_minutes: float = 0.0
    diverge_factor: float = 4.0
    init: str = ""
    restart_schedule: bool = False
    device: str = "auto"

    def __post_init__(self) -> None:
        if not DEVICE_PATTERN.fullmatch(self.device):
            raise ConfigError(f"device: want auto, cpu, cuda or cuda:N, got {self.device!r}")
        if self.steps < 0 or self.batch < 1 or self.warmup < 0 or self.log_every < 1:
            raise ConfigError("need steps >= 0, batch >= 1, warmup >= 0 and log_every >= 1")
        if self.threads < 1:
            raise ConfigError(f"threads: must be >= 1, got {self.threads}")


C = TypeVar("C", bound=TrainConfig)


class TrainTask(Generic[C]):
    """What one kind of model needs from training; the :class:`Trainer` does the rest.

    Subclasses set the class attributes and implement :meth:`batches` and :meth:`loss`; the other
    hooks have defaults. Before any hook runs, the trainer sets :attr:`device`, :attr:`rank` and
    :attr:`world` (one process: the device, 0, 1), and replaces ``cfg.model`` by the model config
    the run really uses (a checkpoint's, or :meth:`model_config`'s).

    Attributes:
        name: the preset's ``task``.
        config_class: the preset dataclass (extends :class:`TrainConfig`, has a ``model`` field).
        model_class: the model, a :class:`~mllmsc.pretrained.PretrainedMixin` ``nn.Module``.
        preset: the preset that reproduces the shipped weights (their provenance on export).
        metric: the column :meth:`evaluate` fills in ``log.csv`` (``""``: no evaluation).
        scalars: extra per-step scalars :meth:`loss` returns, logged (as window means) after ``loss``.
        export_dtype: storage dtype of exported weights (``None``: as trained).
    """

    name: ClassVar[str]
    config_class: ClassVar[type[TrainConfig]]
    model_class: ClassVar[type[nn.Module]]
    preset: ClassVar[str] = ""
    metric: ClassVar[str] = ""
    scalars: ClassVar[tuple[str, ...]] = ()
    export_dtype: ClassVar[torch.dtype | None] = None

    def __init__(self, cfg: C) -> None:
        self.cfg = cfg
        self.device = torch.device("cpu")
        self.rank, self.world = 0, 1

    @property
    def local_batch(self) -> int:
        """This process's share of the batch."""
        return self.cfg.batch // self.world

    # ---- the model ----

    def model_config(self) -> Any:
        """The model config of a fresh run (default: the preset's ``model``)."""
        return self.cfg.model  # type: ignore[attr-defined]

    def same_model(self, saved: Any) -> bool:
        """Whether a checkpoint's or ``init`` weights' config is the model the preset asks for."""
        return saved == self.cfg.model  # type: ignore[attr-defined]

    def build_model(self, config: Any) -> nn.Module:
        """A new model (the global RNG is seeded with ``cfg.seed`` around this call)."""
        return self.model_class(config)

    def optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        """The optimizer. A param group's ``"lr_scale"`` entry scales the schedule's rate for it."""
        return torch.optim.Adam(model.parameters(), lr=self.cfg.lr)

    def load_init(self, folder: Path) -> nn.Module:
        """The ``init`` weights as a model; its config is the run's (default: ``from_pretrained``)."""
        return self.model_class.from_pretrained(folder)  # type: ignore[attr-defined]

    def setup(self, model: nn.Module) -> None:
        """Runs once before step 0 of a fresh run (not on resume or ``init``); the EMA copies it after."""

    # ---- data and loss ----

    def batches(self, step: int, attempt: int) -> Iterator[Any]:
        """Endless training batches from ``step`` on: this rank's share, on :attr:`device`.

        Called before the first step and again after every rollback; ``attempt`` counts the
        rollbacks, so the task can draw other batches than those that diverged. One batch is
        drawn per step tried (a skipped non-finite step uses one too).
        """
        raise NotImplementedError

    def loss(self, net: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The scalar loss of one batch, and the :attr:`scalars` to log (may be ``{}``).

        ``net`` is the model to call (DDP-wrapped under torchrun).
        """
        raise NotImplementedError

    # ---- evaluation (rank 0 only) ----

    def load_eval(self) -> bool:
        """Load the held-out data once; ``False`` when there is none (then nothing is evaluated)."""
        return False

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Scores of ``model`` (the EMA weights) on the held-out data: ``{metric: value, ...}``.

        Entries besides :attr:`metric` are shown on the console, not logged to ``log.csv``.
        """
        raise NotImplementedError


class Trainer:
    """Runs a :class:`TrainTask` as its preset says; :meth:`fit` returns the last checkpoint folder.

    Args:
        task: the task, holding its preset.
        out_dir: where ``log.csv``, ``train_config.json`` and ``checkpoints/`` go.
        resume: continue from the newest checkpoint in ``out_dir`` (start fresh when there is none).
        progress: show a progress bar (a console line per evaluation when not on a terminal).

    Under ``torchrun --nproc-per-node N`` (see :class:`~mllmsc.train.loop.Distributed`) each process
    takes ``batch / N`` items per step, so the global batch, the schedule and the loss curve are
    those of one process; rank 0 alone logs, evaluates and checkpoints, and hands its time-based
    decisions to the other ranks so they stay in lock step.
    """

    def __init__(
        self, task: TrainTask, out_dir: str | Path, *, resume: bool = False, progress: bool = True
    ) -> None:
        self.task = task
        self.out_dir = Path(out_dir)
        self.resume = resume
        self.progress = progress
        fields = ["step", "hours", "loss", *task.scalars, "lr"]
        self.fields = [*fields, task.metric, "threads"] if task.metric else [*fields, "threads"]

    def fit(self) -> Path | None:
        """Train; returns the folder of the last checkpoint (``None`` if the run wrote none).

        Raises:
            ConfigError: ``out_dir`` holds checkpoints and ``resume`` is False (nothing is
                overwritten), the checkpoint's or ``init`` weights' model config differs from the
                preset's, the batch does not split over the processes, or a bad device.
            WeightsError: ``init`` is not a model folder.
            FloatingPointError: the loss stayed non-finite, or kept diverging.
        """
        threads = torch.get_num_threads()
        self.dist = Distributed()
        try:
            return self._fit()
        finally:
            self.dist.close()
            torch.set_num_threads(threads)  # the loop tunes the process-wide setting; give it back

    # ---- setup ----

    def _model_config(self, found: Path | None, init: nn.Module | None, init_folder: Path | None) -> Any:
        task = self.task
        source = found or init_folder
        if source is None:
            return task.model_config()
        if found is not None:
            saved = task.model_class.config_from_folder(found)  # type: ignore[attr-defined]
        else:
            saved = init.config  # type: ignore[union-attr]
        if not task.same_model(saved):
            what = "checkpoint in {} was" if found is not None else "weights in {} were"
            raise ConfigError(f"the {what.format(source)} trained with another model config")
        return saved

    def _fit(self) -> Path | None:
        from rich.console import Console

        task, dist, out_dir = self.task, self.dist, self.out_dir
        cfg: TrainConfig = task.cfg
        console = Console(stderr=True)
        main = dist.is_main
        progress = self.progress and main
        if cfg.batch % dist.world:
            raise ConfigError(f"batch {cfg.batch} does not split over {dist.world} processes")
        found = latest_checkpoint(out_dir)
        if found is not None and not self.resume:
            raise ConfigError(f"{out_dir} already holds checkpoints; pass resume=True or another out_dir")
        init = resolve_path(cfg.init) if found is None and cfg.init else None
        if init is not None and not init.is_dir():
            raise WeightsError(f"init: {cfg.init} is not a model folder")
        device = training_device(cfg.device, dist)
        task.device, task.rank, task.world = device, dist.rank, dist.world
        initial = task.load_init(init) if init is not None else None
        cfg = task.cfg = replace(cfg, model=self._model_config(found, initial, init))
        out_dir.mkdir(parents=True, exist_ok=True)

        # Under torchrun the processes share the cores: split the threads, do not tune them.
        tuner = ThreadTuner(
            max(1, cfg.threads // dist.world), enabled=cfg.adaptive_threads and dist.world == 1
        )
        with torch.random.fork_rng(devices=[]):  # seeded, without touching the caller's RNG
            torch.manual_seed(cfg.seed)
            model = task.build_model(cfg.model)
        # On the device before the optimizer exists: a loaded Adam state follows its parameters.
        model.to(device)
        ema = copy.deepcopy(model).requires_grad_(False)
        optimizer = task.optimizer(model)
        step, hours, lr_scale, origin = 0, 0.0, 1.0, 0
        if found is not None:
            state = load_checkpoint(found, model=model, ema=ema, optimizer=optimizer)
            step, hours = int(state["step"]), float(state.get("hours", 0.0))
            lr_scale = float(state.get("lr_scale", 1.0))
            origin = int(state.get("schedule_origin", 0))
        elif init is not None:
            weights = initial.state_dict()  # type: ignore[union-attr]
            del initial
            model.load_state_dict(weights)
            ema.load_state_dict(weights)
            step, hours = weights_provenance(init)
            origin = step if cfg.restart_schedule else 0
        else:
            task.setup(model)
            ema.load_state_dict(model.state_dict())
        # A fresh optimizer on trained weights re-warms, unless the schedule itself starts over.
        rewarm_from = step if init is not None and not origin else None
        net = dist.wrap(model)  # what the step calls; `model` is the module checkpoints see
        csv_path = out_dir / "log.csv"
        if main:
            trim_csv(csv_path, step, self.fields)
            atomic_write_text(out_dir / "train_config.json", json.dumps(to_dict(cfg), indent=2) + "\n")
        evaluating = main and bool(task.metric) and task.load_eval()
        model_config = model.config_dict()  # type: ignore[attr-defined]

        def checkpoint() -> Path:
            if main:
                save_checkpoint(
                    out_dir, step=step, model=model, ema=ema, optimizer=optimizer, model_config=model_config,
                    state={
                        "hours": hours, "lr_scale": lr_scale, "schedule_origin": origin,
                        "world_size": dist.world, "train_config": to_dict(cfg),
                    },
                )  # fmt: skip
            dist.barrier()  # the other ranks may load it (rollback) only once it is complete
            return out_dir / "checkpoints" / f"step-{step:08d}"

        def open_log() -> tuple[Any, csv.DictWriter]:
            path = csv_path if main else Path(os.devnull)  # one log, written by rank 0
            new = main and not csv_path.is_file()
            f = path.open("a", newline="", encoding="utf-8")
            writer = csv.DictWriter(f, fieldnames=self.fields)
            if new:
                writer.writeheader()
            return f, writer

        def log_row(loss: float | None, scalars: dict[str, float], metric: float | None) -> None:
            row = {
                "step": step, "hours": f"{hours:.4f}", "loss": "" if loss is None else f"{loss:.6f}",
                "lr": f"{lr:.3e}", "threads": torch.get_num_threads(),
                **{k: f"{scalars[k]:.4f}" if k in scalars else "" for k in task.scalars},
            }  # fmt: skip
            if task.metric:
                row[task.metric] = "" if metric is None else f"{metric:.4f}"
            writer.writerow(row)
            log_file.flush()

        def evaluate() -> float:
            scores = task.evaluate(ema)
            if progress:
                detail = " ".join(f"{k}={v:.4f}" for k, v in scores.items() if k != task.metric)
                console.log(
                    f"step {step}: {task.metric} {scores[task.metric]:.4f}"
                    + (f" ({detail})" if detail else "")
                )
            return scores[task.metric]

        live = progress and console.is_terminal
        bar: Any = None
        stop = StopSignal()
        last = found
        attempt, bad_steps = 0, 0
        best_window = float("inf")
        loss_acc, n_acc = 0.0, 0
        scalar_acc = dict.fromkeys(task.scalars, 0.0)
        lr = lr_at(cfg, step, origin) * lr_scale
        session_start = last_ckpt = last_eval = time.monotonic()
        with contextlib.ExitStack() as stack:
            stack.enter_context(stop.installed())
            log_file, writer = open_log()
            stack.callback(lambda: log_file.close())
            batches = task.batches(step, attempt)
            stack.callback(lambda: _close(batches))
            if live:
                from rich.progress import (
                    BarColumn,
                    MofNCompleteColumn,
                    Progress,
                    TextColumn,
                    TimeElapsedColumn,
                )

                bar = stack.enter_context(
                    Progress(
                        TextColumn(task.model_class.model_name),  # type: ignore[attr-defined]
                        BarColumn(),
                        MofNCompleteColumn(),
                        TimeElapsedColumn(),
                        TextColumn("{task.fields[info]}"),
                        console=console,
                    )
                )
                bar_id = bar.add_task("train", total=cfg.steps, completed=step, info="")
            if evaluating and step == 0:
                log_row(None, {}, evaluate())  # the starting point of the curve
            model.train()
            while step < cfg.steps:
                t0 = time.monotonic()
                try:
                    batch = next(batches)
                except RuntimeError:
                    if not stop.requested:
                        raise
                    # The signal reached the data worker too (Ctrl-C, a kill of the process
                    # group) before the loop saw it: the steps so far are whole, save and stop.
                    last = checkpoint()
                    break
                rewarm = (
                    1.0 if rewarm_from is None else min(1.0, (step - rewarm_from + 1) / max(cfg.warmup, 1))
                )
                lr = lr_at(cfg, step, origin) * lr_scale * rewarm
                for group in optimizer.param_groups:
                    group["lr"] = lr * group.get("lr_scale", 1.0)
                loss, scalars = task.loss(net, batch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()  # under DDP this also averages the gradients over ranks
                norm = nn.utils.clip_grad_norm_(
                    model.parameters(), cfg.grad_clip if cfg.grad_clip > 0 else math.inf
                )
                loss = dist.mean(loss)  # the logged loss is the global batch's (same on every rank)
                # A rare non-finite batch must not poison hours of training: skip it, but stop if
                # it keeps happening. Every rank sees the same loss and norm, so all skip together.
                if not (torch.isfinite(loss) and torch.isfinite(norm)):
                    bad_steps += 1
                    if bad_steps > MAX_BAD_STEPS:
                        raise FloatingPointError(
                            f"non-finite loss or gradient for {MAX_BAD_STEPS} steps at {step}"
                        )
                    optimizer.zero_grad(set_to_none=True)
                    continue
                bad_steps = 0
                optimizer.step()
                ema_update(ema, model, min(cfg.ema_decay, (1 + step) / (10 + step)))
                step += 1
                seconds = time.monotonic() - t0
                hours += seconds / 3600
                tuner.update(seconds)
                loss_acc += float(loss)
                for k in task.scalars:
                    scalar_acc[k] += float(dist.mean(scalars[k].detach()))
                n_acc += 1

                window = loss_acc / n_acc
                diverged = cfg.diverge_factor > 0 and window > cfg.diverge_factor * best_window
                log_step = step % cfg.log_every == 0
                if log_step and diverged:
                    if last is None:
                        raise FloatingPointError(f"training diverged at step {step} before any checkpoint")
                    state = load_checkpoint(last, model=model, ema=ema, optimizer=optimizer)
                    lr_scale = min(lr_scale, float(state.get("lr_scale", 1.0))) * 0.5
                    if lr_scale < MIN_LR_SCALE:
                        raise FloatingPointError(f"training keeps diverging at step {step}")
                    if main:
                        console.log(
                            f"step {step}: loss {window:.4f} > {cfg.diverge_factor} × best "
                            f"{best_window:.4f}; rolled back to {last.name}, learning rate × {lr_scale:g}"
                        )
                    step, hours = int(state["step"]), float(state.get("hours", 0.0))
                    attempt += 1
                    _close(batches)
                    batches = task.batches(step, attempt)
                    log_file.close()
                    if main:
                        trim_csv(csv_path, step, self.fields)
                    log_file, writer = open_log()
                    loss_acc, n_acc = 0.0, 0
                    scalar_acc = dict.fromkeys(task.scalars, 0.0)
                    continue
                if log_step and step > cfg.warmup:
                    best_window = min(best_window, window)

                now = time.monotonic()
                final = step == cfg.steps
                metric = None
                if evaluating and (final or now - last_eval >= cfg.eval_minutes * 60):
                    metric = evaluate()
                    last_eval = now
                if log_step or metric is not None or final:
                    means = {k: v / n_acc for k, v in scalar_acc.items()}
                    log_row(window, means, metric)
                    if live:
                        info = f"loss {window:.5f}" + "".join(f" {k} {v:.3f}" for k, v in means.items())
                        bar.update(bar_id, completed=step, info=info)
                    loss_acc, n_acc = 0.0, 0
                    scalar_acc = dict.fromkeys(task.scalars, 0.0)
                over_time = cfg.max_minutes > 0 and now - session_start >= cfg.max_minutes * 60
                if cfg.ckpt_every > 0:
                    due = step % cfg.ckpt_every == 0
                else:
                    due = now - last_ckpt >= cfg.ckpt_minutes * 60
                due, over_time, stopping = dist.agree(due, over_time, stop.requested)
                # Never checkpoint a model that is diverging: the rollback needs a good one.
                if (due or over_time or stopping or final) and not diverged:
                    last = checkpoint()
                    last_ckpt = time.monotonic()
                if over_time or stopping:
                    break
        return last


def _close(batches: Iterator[Any]) -> None:
    """Stop a batch generator now (a data-loader's workers end with it), not at garbage collection."""
    close = getattr(batches, "close", None)
    if close is not None:
        close()


def export_weights(checkpoint: str | Path, directory: str | Path, *, fp16: bool | None = None) -> Path:
    """Write a checkpoint's EMA weights as a shipped model folder (``config.json`` + ``model.safetensors``).

    The safetensors header records the provenance: ``weights = "ema"``, ``step``, ``train_hours`` and
    the task's ``preset``. ``from_pretrained`` of the model class loads the folder.

    Args:
        checkpoint: a checkpoint folder (``out_dir/checkpoints/step-…``).
        directory: the model folder to write (created; its two files are replaced atomically).
        fp16: store the weights as fp16 (True) or as trained (False); ``None``: the task's choice.

    Raises:
        WeightsError: ``checkpoint`` is not a training checkpoint.
    """
    from safetensors.torch import load_file

    from mllmsc.train import task_class

    checkpoint = Path(checkpoint)
    try:
        state = json.loads((checkpoint / "state.json").read_text(encoding="utf-8"))
        name = state["train_config"]["task"]
    except (OSError, ValueError, KeyError, TypeError):
        raise WeightsError(f"{checkpoint} is not a training checkpoint (no readable state.json)") from None
    task = task_class(name)
    model = task.model_class.from_pretrained(checkpoint)  # type: ignore[attr-defined]
    model.load_state_dict(load_file(str(checkpoint / "ema.safetensors")))
    provenance = {
        "weights": "ema",
        "step": str(state["step"]),
        "train_hours": f"{float(state.get('hours', 0.0)):.3f}",
        "preset": task.preset,
    }
    dtype = task.export_dtype if fp16 is None else (torch.float16 if fp16 else None)
    return Path(model.save_pretrained(directory, dtype=dtype, metadata=provenance))


__all__ = ["TrainConfig", "TrainTask", "Trainer", "export_weights"]

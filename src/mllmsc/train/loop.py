"""The building blocks of :class:`mllmsc.train.trainer.Trainer`: DDP, device choice, thread tuning,
clean stop on a signal, the learning-rate schedule, EMA, log trimming and path resolution.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import os
import re
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from mllmsc.atomic import atomic_write_text
from mllmsc.config import ConfigError
from mllmsc.pretrained import read_metadata

if TYPE_CHECKING:
    from mllmsc.train.trainer import TrainConfig

#: What a preset's ``device`` may say.
DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:[0-9]+)?")


def resolve_path(path: str | Path) -> Path:
    """``path`` as given if it exists (or is absolute), else relative to the repository root.

    Presets name data as ``../shared/data/train``, relative to the checkout; this lets a run
    started from another working directory find it too (src/ layout: the root is 3 levels up).
    """
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    return Path(__file__).resolve().parents[3] / p


def training_device(device: str, dist: Distributed) -> torch.device:
    """The device a preset's ``device`` names for this rank.

    ``"auto"`` is the rank's GPU under torchrun with CUDA (else the CPU), and in one process
    ``"cuda"`` when torch sees a GPU, else ``"cpu"``.

    Raises:
        ConfigError: a malformed name, CUDA asked for where torch sees none, or a device type
            that differs from the one the torchrun process group runs on.
    """
    if not DEVICE_PATTERN.fullmatch(device):
        raise ConfigError(f"device: want auto, cpu, cuda or cuda:N, got {device!r}")
    if device == "auto":
        if dist.world > 1:
            return dist.device  # torchrun: the rank's GPU with nccl, else the CPU (gloo)
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    chosen = torch.device(device)
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r}: torch sees no CUDA device here (try device = 'cpu')")
    if dist.world > 1 and chosen.type != dist.device.type:
        raise ConfigError(f"device {device!r} under torchrun, whose process group runs on {dist.device}")
    return dist.device if dist.world > 1 else chosen


def lr_at(cfg: TrainConfig, step: int, origin: int = 0) -> float:
    """Linear warm-up, then cosine decay from ``cfg.lr`` to ``cfg.lr_min`` at ``cfg.steps``.

    ``origin``: the step the schedule starts at (0; an ``init=`` run with ``restart_schedule``
    starts a fresh warm-up and cosine at its weights' step).
    """
    step, total = step - origin, cfg.steps - origin
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = min(1.0, (step - cfg.warmup) / max(1, total - cfg.warmup))
    return cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * t))


def weights_provenance(folder: str | Path) -> tuple[int, float]:
    """(step, training hours) recorded in a shipped ``model.safetensors`` header (0, 0.0 when absent)."""
    meta = read_metadata(folder)
    return int(meta.get("step", 0)), float(meta.get("train_hours", 0.0))


class ThreadTuner:
    """Picks 1 or ``max_threads`` intra-op threads by measuring, because the CPU is shared.

    On an idle 2-core machine two threads are ~1.8× faster than one, but when other processes take
    a core, every parallel op waits for the descheduled thread and two threads can be several times
    slower than one. Every ``every`` steps (and once early) the other setting runs ``trial``
    steps; the faster mean step time (against the last ``trial`` steps of the current setting) wins.
    """

    def __init__(self, max_threads: int, *, every: int = 100, trial: int = 8, enabled: bool = True) -> None:
        self.options = sorted({1, max(1, max_threads)})
        self.best = self.options[-1]
        self.enabled = enabled and len(self.options) > 1
        self.every, self.trial = every, trial
        self.recent: list[float] = []
        self.trial_times: list[float] = []
        self.in_trial = False
        self.count = 0
        torch.set_num_threads(self.best)

    @property
    def current(self) -> int:
        return torch.get_num_threads()

    def update(self, seconds: float) -> None:
        """Record the last step's time and switch the thread count when due."""
        if not self.enabled:
            return
        self.count += 1
        if self.in_trial:
            self.trial_times.append(seconds)
            if len(self.trial_times) >= self.trial:
                alt = self.current
                trial_mean = sum(self.trial_times[1:]) / (len(self.trial_times) - 1)
                base = sum(self.recent) / len(self.recent) if self.recent else float("inf")
                if trial_mean < 0.9 * base:
                    self.best = alt
                self.in_trial, self.trial_times, self.recent = False, [], []
                torch.set_num_threads(self.best)
            return
        self.recent = [*self.recent[-(self.trial - 1) :], seconds]
        if self.count % self.every == 0 or self.count == 2 * self.trial:  # first trial early
            self.in_trial = True
            torch.set_num_threads(next(o for o in self.options if o != self.best))


class StopSignal:
    """Set by SIGTERM/SIGINT so the loop saves a checkpoint before it exits."""

    def __init__(self) -> None:
        self.requested = False

    @contextlib.contextmanager
    def installed(self):
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        old = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}

        def handler(signum, frame):  # noqa: ARG001
            self.requested = True

        for s in old:
            signal.signal(s, handler)
        try:
            yield
        finally:
            for s, h in old.items():
                signal.signal(s, h)


def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """``ema ← decay · ema + (1 − decay) · model``, parameter by parameter (buffers are not averaged)."""
    with torch.no_grad():
        e = list(ema.parameters())
        p = list(model.parameters())
        torch._foreach_lerp_(e, p, 1.0 - decay)


def trim_csv(path: Path, upto_step: int, fields: list[str]) -> None:
    """Drop rows of ``log.csv`` logged after the checkpoint we resume from (they will be logged again).

    The file is replaced atomically: a kill during the trim leaves the old log, never half of it.
    Columns not in ``fields`` are dropped; new ones are empty in the old rows.
    """
    if not path.is_file():
        return
    with path.open(newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if int(r["step"]) <= upto_step]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


class Distributed:
    """The process group ``torchrun --nproc-per-node N`` sets up, or a single process.

    Under torchrun (``WORLD_SIZE`` > 1 in the environment) every process trains a replica wrapped
    in :class:`~torch.nn.parallel.DistributedDataParallel` (gloo on CPU, nccl on CUDA) on its own
    data; gradients are averaged, so the replicas stay identical. Rank 0 alone writes logs and
    checkpoints and takes the time-based decisions (checkpoint now, stop now), which
    :meth:`agree` hands to every rank: the loops stay in lock step, or a collective would hang.
    One process (``python -m mllmsc train``) goes through the same calls, which then do nothing.
    """

    def __init__(self) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.device = torch.device("cpu")
        if self.world > 1:
            import torch.distributed as dist

            cuda = torch.cuda.is_available()
            if cuda:
                self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
                torch.cuda.set_device(self.device)
            if not dist.is_initialized():
                dist.init_process_group(backend="nccl" if cuda else "gloo")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, model: nn.Module) -> nn.Module:
        """The module to call in the training step (DDP under torchrun, else ``model`` itself)."""
        if self.world == 1:
            return model
        from torch.nn.parallel import DistributedDataParallel

        # DDP broadcasts rank 0's parameters here: every replica starts from the same weights.
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """``value`` averaged over ranks (a copy; the input is untouched)."""
        value = value.detach().clone()
        if self.world > 1:
            import torch.distributed as dist

            dist.all_reduce(value)
            value /= self.world
        return value

    def agree(self, *flags: bool) -> tuple[bool, ...]:
        """Rank 0's ``flags`` on every rank."""
        if self.world == 1:
            return flags
        import torch.distributed as dist

        t = torch.tensor([float(f) for f in flags], device=self.device)
        dist.broadcast(t, src=0)
        return tuple(bool(v) for v in t.tolist())

    def barrier(self) -> None:
        """Wait until every rank gets here (e.g. until rank 0 has written a checkpoint)."""
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()


__all__ = [
    "Distributed",
    "StopSignal",
    "ThreadTuner",
    "ema_update",
    "lr_at",
    "resolve_path",
    "training_device",
    "trim_csv",
    "weights_provenance",
]

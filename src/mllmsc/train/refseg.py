"""Training loop of the embedded ``tiny-refseg`` segmenter (``task = "refseg"`` presets).

Data is an endless stream of synthetic AR scenes (:mod:`mllmsc.data.scenes`): scene ``i`` of
``seed``, on backgrounds cropped from ``backgrounds`` (procedural textures when the folder is
absent), each giving up to ``per_scene`` of its referring expressions and questions. A data-loader
worker draws the scenes while the main process trains (drawing costs ~5 ms per sample, training
~40), so no dataset is stored and the model never sees the same scene twice::

    worker: scene (seed, i) ─► image ─► resize to S×S        ─┐
                           └─► expression masks ─► area mean ─┴─► batches (image, text, soft mask)
    main:   logits [B, 1, S/2, S/2] ─► BCE + soft Dice against the soft mask ─► AdamW, EMA

The targets are area-averaged masks at the logits' resolution, so the loss asks for the boundary
inside a pixel; the validation IoU is measured exactly as ``--guidance tiny-refseg`` is used:
logits upsampled to the scene size, ``sigmoid >= 0.5``, against the full-resolution mask, on
``val_scenes`` scenes of ``val_seed`` (keep it and the final evaluation's seed away from ``seed``).

Outputs in ``out_dir``: ``log.csv`` (step, hours, loss, lr, val_iou, threads), ``checkpoints/``
(:mod:`mllmsc.train.checkpoint`) every ``ckpt_minutes`` (or ``ckpt_every`` steps), and
``train_config.json``. :func:`export_weights` writes a checkpoint's EMA weights as the shipped model.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from mllmsc.config import ConfigError, from_dict, to_dict
from mllmsc.guidance.tiny_refseg_model import PAD, UNK, TinyRefSeg, TinyRefSegConfig, tokenize
from mllmsc.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from mllmsc.train.codec import resolve_path
from mllmsc.train.loop import (
    Distributed,
    StopSignal,
    ThreadTuner,
    ema_update,
    lr_at,
    trim_csv,
    weights_provenance,
)

CSV_FIELDS = ["step", "hours", "loss", "lr", "val_iou", "threads"]


@dataclass(frozen=True)
class RefSegTrainConfig:
    """A ``task = "refseg"`` preset (see ``configs/tiny_refseg.toml``).

    ``model.vocab`` left at its default is filled with every word of the scene generator's
    expressions (found by drawing ``vocab_scenes`` scenes with all their expressions).
    ``procedural_fraction`` of the training scenes get procedural backgrounds even when photos are
    there, so the model also works where no photo folder is (tests, a fresh install).
    """

    task: str = "refseg"
    model: TinyRefSegConfig = field(default_factory=TinyRefSegConfig)
    backgrounds: str = "../shared/data/train"
    procedural_fraction: float = 0.2
    scene_size: int = 256
    seed: int = 1
    val_seed: int = 2
    val_scenes: int = 100
    vocab_scenes: int = 300
    steps: int = 8000
    batch: int = 32
    per_scene: int = 4
    lr: float = 2e-3
    lr_min: float = 5e-5
    warmup: int = 200
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    ema_decay: float = 0.998
    dice_weight: float = 1.0
    threads: int = 2
    adaptive_threads: bool = True
    workers: int = 1
    log_every: int = 25
    ckpt_minutes: float = 10.0
    ckpt_every: int = 0
    eval_minutes: float = 10.0
    max_minutes: float = 0.0
    # A shipped tiny-refseg folder to continue from when out_dir holds no checkpoint (checkpoints
    # stay out of git; the shipped weights do not): its vocabulary, step and hours carry over, the
    # fresh optimizer re-warms over `warmup` steps.
    init: str = ""

    def __post_init__(self) -> None:
        if self.task != "refseg":
            raise ConfigError(f"task: a refseg preset needs task = 'refseg', got {self.task!r}")
        if self.scene_size % (self.model.image_size // 2):
            raise ConfigError(
                f"scene_size ({self.scene_size}) must be a multiple of model.image_size / 2 "
                f"({self.model.image_size // 2}) so the target masks are exact block means"
            )
        if self.batch < 1 or self.per_scene < 1 or self.workers < 0:
            raise ConfigError("batch and per_scene must be >= 1 and workers >= 0")


def _backgrounds(cfg: RefSegTrainConfig) -> list[Path]:
    from mllmsc.data.scenes import list_backgrounds

    folder = resolve_path(cfg.backgrounds) if cfg.backgrounds else None
    return list_backgrounds(folder) if folder is not None and folder.is_dir() else []


def build_vocab(cfg: RefSegTrainConfig) -> tuple[str, ...]:
    """``<pad>``, ``<unk>``, then every word of the generator's expressions, sorted."""
    from mllmsc.data.scenes import COLOURS, SHAPES, generate_scene

    words = set(SHAPES) | set(COLOURS)
    for i in range(cfg.vocab_scenes):
        scene = generate_scene(cfg.seed, 10_000_000 + i, size=64, n_expressions=1000)
        for expr in scene.expressions:
            words.update(tokenize(expr.text))
    return (PAD, UNK, *sorted(words - {PAD, UNK}))


def scene_samples(scene, image_size: int, per_scene: int, rng: np.random.Generator) -> list[tuple]:
    """Up to ``per_scene`` ``(image [3,S,S] float, text, soft mask [1,S/2,S/2] float)`` of a scene."""
    x = torch.from_numpy(scene.image).permute(2, 0, 1).float()[None] / 255
    x = F.interpolate(x, size=(image_size,) * 2, mode="bilinear", align_corners=False, antialias=True)[0]
    side, out = scene.image.shape[0], image_size // 2
    block = side // out
    picks = rng.permutation(len(scene.expressions))[:per_scene]
    samples = []
    for j in picks:
        expr = scene.expressions[int(j)]
        soft = expr.mask.reshape(out, block, out, block).mean(axis=(1, 3), dtype=np.float32)
        samples.append((x, expr.text, torch.from_numpy(soft)[None]))
    return samples


class SceneStream(torch.utils.data.IterableDataset):
    """Samples from scenes ``start, start+1, …`` of ``seed``, split over ranks and loader workers."""

    def __init__(
        self, cfg: RefSegTrainConfig, backgrounds: list[Path], start: int, rank: int = 0, world: int = 1
    ) -> None:
        self.cfg, self.backgrounds, self.start = cfg, backgrounds, start
        self.rank, self.world = rank, world

    def __iter__(self) -> Iterator[tuple]:
        from mllmsc.data.scenes import generate_scene

        torch.set_num_threads(1)  # the worker must not fight the training threads
        info = torch.utils.data.get_worker_info()
        if info is not None:
            # Ctrl-C / SIGTERM reach the whole process group: the main process checkpoints and
            # stops the worker itself; a worker dying first would crash it before it can save.
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, signal.SIG_IGN)
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        # scene i goes to one (rank, worker) pair: ranks and workers interleave over the stream
        offset, stride = self.rank * workers + worker, self.world * workers
        index = self.start + offset
        while True:
            photo = np.random.default_rng([self.cfg.seed, index, 3]).random() >= self.cfg.procedural_fraction
            scene = generate_scene(
                self.cfg.seed, index, size=self.cfg.scene_size, backgrounds=self.backgrounds if photo else ()
            )
            rng = np.random.default_rng([self.cfg.seed, index, 7])
            yield from scene_samples(scene, self.cfg.model.image_size, self.cfg.per_scene, rng)
            index += stride


def _batches(cfg: RefSegTrainConfig, backgrounds: list[Path], start: int, rank: int = 0, world: int = 1):
    """An endless iterator of ``(x [b,3,S,S], texts, soft [b,1,S/2,S/2])``, ``b = batch / world``."""
    # A small shuffle buffer mixes scenes inside a batch (a batch of one scene's expressions
    # would teach the text pathway less per step).
    stream = SceneStream(cfg, backgrounds, start, rank, world)
    batch = cfg.batch // world
    loader = torch.utils.data.DataLoader(
        stream,
        batch_size=None,
        num_workers=cfg.workers,
        persistent_workers=cfg.workers > 0,
        prefetch_factor=64 if cfg.workers > 0 else None,
    )
    rng = np.random.default_rng([cfg.seed, start, rank, 11])
    buffer: list[tuple] = []
    for sample in loader:
        buffer.append(sample)
        if len(buffer) >= 4 * batch:
            picks = sorted(rng.choice(len(buffer), batch, replace=False).tolist(), reverse=True)
            chosen = [buffer.pop(i) for i in picks]
            yield (
                torch.stack([c[0] for c in chosen]),
                [c[1] for c in chosen],
                torch.stack([c[2] for c in chosen]),
            )


def refseg_loss(logits: torch.Tensor, soft: torch.Tensor, dice_weight: float) -> torch.Tensor:
    """BCE against the soft mask plus ``dice_weight`` × (1 − soft Dice), averaged over the batch."""
    bce = F.binary_cross_entropy_with_logits(logits, soft)
    p = torch.sigmoid(logits).flatten(1)
    t = soft.flatten(1)
    dice = (2 * (p * t).sum(1) + 1) / (p.sum(1) + t.sum(1) + 1)
    return bce + dice_weight * (1 - dice).mean()


@torch.inference_mode()
def predict_masks(model: TinyRefSeg, x: torch.Tensor, texts: list[str]) -> torch.Tensor:
    """Boolean masks ``[B, 1, H, W]`` at the images' size, as ``--guidance tiny-refseg`` makes them."""
    logits = model(x, texts)
    soft = F.interpolate(torch.sigmoid(logits), size=x.shape[-2:], mode="bilinear", align_corners=False)
    return soft >= 0.5


def validation_set(cfg: RefSegTrainConfig, backgrounds: list[Path]) -> list[tuple]:
    """``(image [1,3,H,W], texts, masks [N,1,H,W] bool, types)`` for each validation scene."""
    from mllmsc.data.scenes import generate_scene

    out = []
    for i in range(cfg.val_scenes):
        scene = generate_scene(cfg.val_seed, i, size=cfg.scene_size, backgrounds=backgrounds)
        x = torch.from_numpy(scene.image).permute(2, 0, 1).float()[None] / 255
        masks = torch.from_numpy(np.stack([e.mask for e in scene.expressions]))[:, None]
        types = [e.type if e.subtype is None else f"{e.type}:{e.subtype}" for e in scene.expressions]
        out.append((x, [e.text for e in scene.expressions], masks, types))
    return out


def evaluate_iou(model: TinyRefSeg, val: list[tuple]) -> tuple[float, dict[str, float]]:
    """Mean IoU over every validation query, and per query type."""
    from mllmsc.eval.metrics import iou

    per_type: dict[str, list[float]] = {}
    was_training = model.training
    model.eval()
    for x, texts, masks, types in val:
        pred = predict_masks(model, x.expand(len(texts), -1, -1, -1), texts)
        for kind, value in zip(types, iou(pred, masks).tolist(), strict=True):
            per_type.setdefault(kind, []).append(value)
    model.train(was_training)
    values = [v for vs in per_type.values() for v in vs]
    return sum(values) / max(1, len(values)), {k: sum(v) / len(v) for k, v in sorted(per_type.items())}


def train_refseg(
    cfg: RefSegTrainConfig, out_dir: str | Path, *, resume: bool = False, progress: bool = True
) -> Path:
    """Train tiny-refseg as ``cfg`` says; returns the folder of the last checkpoint.

    Raises:
        ConfigError: ``out_dir`` holds checkpoints and ``resume`` is False, or the checkpoint's
            model config differs from the preset's.

    Under ``torchrun --nproc-per-node N`` each process takes ``batch / N`` samples per step from
    its own share of the scene stream; rank 0 logs, validates and checkpoints.
    """
    threads = torch.get_num_threads()
    dist = Distributed()
    try:
        return _train_refseg(cfg, Path(out_dir), dist, resume=resume, progress=progress)
    finally:
        dist.close()
        torch.set_num_threads(threads)


def _train_refseg(
    cfg: RefSegTrainConfig, out_dir: Path, dist: Distributed, *, resume: bool, progress: bool
) -> Path:
    from rich.console import Console

    console = Console(stderr=True)
    main = dist.is_main
    progress = progress and main
    if cfg.batch % dist.world:
        raise ConfigError(f"batch {cfg.batch} does not split over {dist.world} processes")
    found = latest_checkpoint(out_dir)
    if found is not None and not resume:
        raise ConfigError(f"{out_dir} already holds checkpoints; pass resume=True or another out_dir")
    out_dir.mkdir(parents=True, exist_ok=True)
    if found is not None:
        saved = json.loads((found / "config.json").read_text(encoding="utf-8"))
        saved.pop("model", None)
        model_cfg = from_dict(TinyRefSegConfig, saved)
        if replace(model_cfg, vocab=cfg.model.vocab) != cfg.model:
            raise ConfigError(f"the checkpoint in {found} was trained with another model config")
        cfg = replace(cfg, model=model_cfg)
    elif cfg.init:
        shipped = TinyRefSeg.from_pretrained(resolve_path(cfg.init))
        if replace(shipped.config, vocab=cfg.model.vocab) != cfg.model:
            raise ConfigError(f"the weights in {cfg.init} were trained with another model config")
        cfg = replace(cfg, model=shipped.config)
    elif cfg.model.vocab == TinyRefSegConfig().vocab:
        cfg = replace(cfg, model=replace(cfg.model, vocab=build_vocab(cfg)))

    tuner = ThreadTuner(max(1, cfg.threads // dist.world), enabled=cfg.adaptive_threads and dist.world == 1)
    torch.manual_seed(cfg.seed)
    model = TinyRefSeg(cfg.model)
    ema = copy.deepcopy(model).requires_grad_(False)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step, hours = 0, 0.0
    if found is not None:
        state = load_checkpoint(found, model=model, ema=ema, optimizer=optimizer)
        step, hours = int(state["step"]), float(state.get("hours", 0.0))
    elif cfg.init:
        step, hours = _init_from_weights(resolve_path(cfg.init), model, ema)
    rewarm_from = step if (found is None and cfg.init) else None
    net = dist.wrap(model)  # what the step calls; `model` is the module checkpoints see
    csv_path = out_dir / "log.csv"
    if main:
        trim_csv(csv_path, step, CSV_FIELDS)
        config_text = json.dumps(to_dict(cfg), indent=2) + "\n"
        (out_dir / "train_config.json").write_text(config_text, encoding="utf-8")

    backgrounds = _backgrounds(cfg)
    val = validation_set(cfg, backgrounds) if main else []
    # A resumed run continues with scenes it has not seen (the stream is indexed by samples used);
    # each rank reads its own interleaved share of the scenes.
    batches = _batches(
        cfg, backgrounds, start=step * cfg.batch // cfg.per_scene, rank=dist.rank, world=dist.world
    )
    model_config = {"model": "tiny-refseg", **to_dict(cfg.model)}
    new = main and not csv_path.is_file()
    csv_file = (csv_path if main else Path(os.devnull)).open("a", newline="", encoding="utf-8")
    writer = csv.DictWriter(csv_file, fieldnames=CSV_FIELDS)
    if new:
        writer.writeheader()

    def log_row(loss: float | None, val_iou: float | None) -> None:
        writer.writerow({
            "step": step, "hours": f"{hours:.4f}", "loss": "" if loss is None else f"{loss:.5f}",
            "lr": f"{lr_at(cfg, step):.3e}", "val_iou": "" if val_iou is None else f"{val_iou:.4f}",
            "threads": torch.get_num_threads(),
        })  # fmt: skip
        csv_file.flush()

    def checkpoint() -> Path:
        if main:
            save_checkpoint(
                out_dir, step=step, model=model, ema=ema, optimizer=optimizer, model_config=model_config,
                state={"hours": hours, "world_size": dist.world, "train_config": to_dict(cfg)},
            )  # fmt: skip
        dist.barrier()
        return out_dir / "checkpoints" / f"step-{step:08d}"

    live = progress and console.is_terminal
    bar_ctx: contextlib.AbstractContextManager = contextlib.nullcontext()
    if live:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        bar_ctx = Progress(
            TextColumn("tiny-refseg"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.fields[info]}"), console=console,
        )  # fmt: skip
    stop = StopSignal()
    last = found
    start = last_ckpt = last_eval = time.monotonic()
    loss_acc, n_acc, val_iou = 0.0, 0, None
    model.train()
    with stop.installed(), bar_ctx as bar:
        task = bar.add_task("train", total=cfg.steps, completed=step, info="") if live else None
        while step < cfg.steps:
            t0 = time.monotonic()
            x, texts, soft = next(batches)
            rewarm = 1.0 if rewarm_from is None else min(1.0, (step - rewarm_from + 1) / max(cfg.warmup, 1))
            for group in optimizer.param_groups:
                group["lr"] = lr_at(cfg, step) * rewarm
            loss = refseg_loss(net(x, texts), soft, cfg.dice_weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # under DDP this also averages the gradients over ranks
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            ema_update(ema, model, min(cfg.ema_decay, (1 + step) / (10 + step)))
            step += 1
            seconds = time.monotonic() - t0
            hours += seconds / 3600
            tuner.update(seconds)
            loss_acc += float(dist.mean(loss))
            n_acc += 1
            now = time.monotonic()
            do_eval = main and (now - last_eval >= cfg.eval_minutes * 60 or step == cfg.steps)
            if do_eval:
                val_iou, per_type = evaluate_iou(ema, val)
                last_eval = now
                if progress:
                    detail = " ".join(f"{k}={v:.3f}" for k, v in per_type.items())
                    console.log(f"step {step}: val IoU {val_iou:.4f} ({detail})")
            if step % cfg.log_every == 0 or do_eval:
                log_row(loss_acc / n_acc, val_iou if do_eval else None)
                if live:
                    info = f"loss {loss_acc / n_acc:.4f}" + (f" val IoU {val_iou:.3f}" if val_iou else "")
                    bar.update(task, completed=step, info=info)
                loss_acc, n_acc = 0.0, 0
            over_time = cfg.max_minutes > 0 and now - start >= cfg.max_minutes * 60
            if cfg.ckpt_every > 0:
                due = step % cfg.ckpt_every == 0
            else:
                due = now - last_ckpt >= cfg.ckpt_minutes * 60
            due, over_time, stopping = dist.agree(due, over_time, stop.requested)
            if due or over_time or stopping or step == cfg.steps:
                last = checkpoint()
                last_ckpt = time.monotonic()
            if over_time or stopping:
                break
    csv_file.close()
    return last


def _init_from_weights(folder: Path, model: TinyRefSeg, ema: TinyRefSeg) -> tuple[int, float]:
    """Load shipped weights into ``model`` and ``ema``; return the (step, hours) they record."""
    shipped = TinyRefSeg.from_pretrained(folder)
    model.load_state_dict(shipped.state_dict())
    ema.load_state_dict(shipped.state_dict())
    return weights_provenance(folder)


def export_weights(checkpoint: str | Path, directory: str | Path) -> Path:
    """Write a checkpoint's EMA weights as a shipped model (``config.json`` + ``model.safetensors``)."""
    from safetensors.torch import load_file

    checkpoint = Path(checkpoint)
    model = TinyRefSeg.from_pretrained(checkpoint)
    model.load_state_dict(load_file(str(checkpoint / "ema.safetensors")))
    state = json.loads((checkpoint / "state.json").read_text(encoding="utf-8"))
    provenance = {
        "weights": "ema",
        "step": str(state["step"]),
        "train_hours": f"{float(state.get('hours', 0.0)):.3f}",
        "preset": "configs/tiny_refseg.toml",
    }
    model.save_pretrained(directory, metadata=provenance)
    return Path(directory)


__all__ = [
    "RefSegTrainConfig",
    "build_vocab",
    "evaluate_iou",
    "export_weights",
    "refseg_loss",
    "scene_samples",
    "train_refseg",
]

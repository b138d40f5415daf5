"""The embedded ``tiny-refseg`` segmenter as a training task (``task = "refseg"`` presets).

Data is an endless stream of synthetic AR scenes (:mod:`mllmsc.data.scenes`): scene ``i`` of
``seed``, on backgrounds cropped from ``backgrounds`` (procedural textures when the folder is
absent), each giving up to ``per_scene`` of its referring expressions and questions. A data-loader
worker draws the scenes while the main process trains (drawing costs ~5 ms per sample, training
~40), so no dataset is stored and the model never sees the same scene twice::

    worker: scene (seed, i) ─► image ─► resize to S×S        ─┐
                           └─► expression masks ─► area mean ─┴─► batches (image, text, soft mask)
    main:   logits [B, 1, S/2, S/2] ─► BCE + soft Dice against the soft mask ─► AdamW, EMA

The targets are area-averaged masks at the logits' resolution, so the loss asks for the boundary
inside a pixel; the validation IoU (``val_iou`` in ``log.csv``) is measured exactly as
``--guidance tiny-refseg`` is used: logits upsampled to the scene size, ``sigmoid >= 0.5``, against
the full-resolution mask, on ``val_scenes`` scenes of ``val_seed`` (keep it and the final
evaluation's seed away from ``seed``). The loop itself is :class:`~mllmsc.train.trainer.Trainer`'s.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mllmsc.config import ConfigError
from mllmsc.guidance.tiny_refseg_model import PAD, UNK, TinyRefSeg, TinyRefSegConfig, tokenize
from mllmsc.train.loop import resolve_path
from mllmsc.train.trainer import TrainConfig, TrainTask

Batch = tuple[torch.Tensor, list[str], torch.Tensor]
# A rollback restarts the scene stream this far on, so it never replays the scenes that diverged.
ATTEMPT_STRIDE = 1_000_000_000


@dataclass(frozen=True)
class SceneTrainConfig(TrainConfig):
    """The preset keys of every task that trains on generated scenes (refseg, vqa).

    Attributes:
        backgrounds: photos the scene backgrounds are cropped from (procedural when absent).
        procedural_fraction: share of the scenes with a procedural background even when photos
            are there, so the model also works where no photo folder is (tests, a fresh install).
        scene_size: side of the generated scenes in pixels.
        val_seed, val_scenes: the validation scenes (keep the seed away from ``seed`` and from
            the seed of the published evaluation, 0).
        vocab_scenes: scenes drawn to collect the generator's vocabulary for a fresh model.
        per_scene: samples taken from one scene.
        weight_decay: AdamW's.
        dice_weight: weight of the soft-Dice term of the grounding loss.
        workers: data-loader processes drawing the scenes.
        varied_fraction: share of the training scenes drawn in the ``varied`` style (other colours
            under other light, soft edges, blur, noise, synonyms and filler words; see
            :mod:`mllmsc.data.scene_styles`); the rest are ``standard``. Validation stays standard.
    """

    backgrounds: str = "../shared/data/train"
    procedural_fraction: float = 0.2
    scene_size: int = 256
    val_seed: int = 2
    val_scenes: int = 100
    vocab_scenes: int = 300
    per_scene: int = 4
    weight_decay: float = 1e-4
    dice_weight: float = 1.0
    workers: int = 1
    varied_fraction: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.per_scene < 1 or self.workers < 0:
            raise ConfigError("per_scene must be >= 1 and workers >= 0")
        if not 0 <= self.varied_fraction <= 1:
            raise ConfigError(f"varied_fraction must lie in [0, 1], got {self.varied_fraction}")


@dataclass(frozen=True)
class RefSegTrainConfig(SceneTrainConfig):
    """A ``task = "refseg"`` preset (``configs/tiny_refseg.toml``); loop keys: :class:`TrainConfig`,
    scene keys: :class:`SceneTrainConfig`.

    ``model.vocab`` left at its default is filled with every word of the scene generator's
    expressions (found by drawing ``vocab_scenes`` scenes with all their expressions). An ``init``
    folder's vocabulary carries over with its weights.
    """

    task: str = "refseg"
    steps: int = 8000
    batch: int = 32
    lr: float = 2e-3
    lr_min: float = 5e-5
    warmup: int = 200
    ema_decay: float = 0.998
    seed: int = 1
    model: TinyRefSegConfig = field(default_factory=TinyRefSegConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.task != "refseg":
            raise ConfigError(f"task: a refseg preset needs task = 'refseg', got {self.task!r}")
        if self.scene_size % (self.model.image_size // 2):
            raise ConfigError(
                f"scene_size ({self.scene_size}) must be a multiple of model.image_size / 2 "
                f"({self.model.image_size // 2}) so the target masks are exact block means"
            )


def _backgrounds(cfg: SceneTrainConfig) -> list[Path]:
    from mllmsc.data.scenes import list_backgrounds

    folder = resolve_path(cfg.backgrounds) if cfg.backgrounds else None
    return list_backgrounds(folder) if folder is not None and folder.is_dir() else []


def build_vocab(cfg: SceneTrainConfig) -> tuple[str, ...]:
    """``<pad>``, ``<unk>``, then every word of the generator's expressions, sorted.

    With ``varied_fraction > 0`` the words of the ``varied`` style (its synonyms and filler) too.
    """
    from mllmsc.data.scene_styles import LEXICON, VARIED_WRAPPERS
    from mllmsc.data.scenes import COLOURS, SHAPES, generate_scene

    words = set(SHAPES) | set(COLOURS)
    for i in range(cfg.vocab_scenes):
        scene = generate_scene(cfg.seed, 10_000_000 + i, size=64, n_expressions=1000)
        for expr in scene.expressions:
            words.update(tokenize(expr.text))
    if cfg.varied_fraction > 0:
        for text in (
            *LEXICON,
            *(w for ws in LEXICON.values() for w in ws),
            *(" ".join(p) for p in VARIED_WRAPPERS),
        ):
            words.update(tokenize(text))
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
            # draw[0] is the value the stream drew alone before styles existed: old runs resume the same
            draw = np.random.default_rng([self.cfg.seed, index, 3]).random(2)
            photo = draw[0] >= self.cfg.procedural_fraction
            style = "varied" if draw[1] < self.cfg.varied_fraction else "standard"
            scene = generate_scene(
                self.cfg.seed, index, size=self.cfg.scene_size,
                backgrounds=self.backgrounds if photo else (), style=style,
            )  # fmt: skip
            rng = np.random.default_rng([self.cfg.seed, index, 7])
            yield from self.samples(scene, rng)
            index += stride

    def samples(self, scene, rng: np.random.Generator) -> list[tuple]:
        """The training samples of one scene (a subclass picks other ones: TinyVQA's questions)."""
        return scene_samples(scene, self.cfg.model.image_size, self.cfg.per_scene, rng)


def _batches(
    cfg: RefSegTrainConfig,
    backgrounds: list[Path],
    start: int,
    rank: int = 0,
    world: int = 1,
    stream_class: type[SceneStream] = SceneStream,
):
    """An endless iterator of batches of ``stream_class``'s samples, ``batch / world`` each.

    Tensors are stacked and strings listed, field by field: for refseg ``(x [b,3,S,S], texts,
    soft [b,1,S/2,S/2])``.
    """
    # A small shuffle buffer mixes scenes inside a batch (a batch of one scene's expressions
    # would teach the text pathway less per step).
    stream = stream_class(cfg, backgrounds, start, rank, world)
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
            yield tuple(
                torch.stack(column) if isinstance(column[0], torch.Tensor) else list(column)
                for column in zip(*chosen, strict=True)
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
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    for x, texts, masks, types in val:
        pred = predict_masks(model, x.to(device).expand(len(texts), -1, -1, -1), texts).cpu()
        for kind, value in zip(types, iou(pred, masks).tolist(), strict=True):
            per_type.setdefault(kind, []).append(value)
    model.train(was_training)
    values = [v for vs in per_type.values() for v in vs]
    return sum(values) / max(1, len(values)), {k: sum(v) / len(v) for k, v in sorted(per_type.items())}


class RefSegTask(TrainTask[RefSegTrainConfig]):
    """tiny-refseg's pieces for the :class:`~mllmsc.train.trainer.Trainer`."""

    name = "refseg"
    config_class = RefSegTrainConfig
    model_class = TinyRefSeg
    preset = "configs/tiny_refseg.toml"
    metric = "val_iou"
    export_dtype = None  # fp32: the shipped model is small enough as it is

    def __init__(self, cfg: RefSegTrainConfig) -> None:
        super().__init__(cfg)
        self._val: list[tuple] = []

    def model_config(self) -> TinyRefSegConfig:
        if self.cfg.model.vocab == TinyRefSegConfig().vocab:
            return replace(self.cfg.model, vocab=build_vocab(self.cfg))
        return self.cfg.model

    def same_model(self, saved: Any) -> bool:
        # The vocabulary is data (built from the generator, or carried by the weights), not a setting.
        return replace(saved, vocab=self.cfg.model.vocab) == self.cfg.model

    def load_init(self, folder: Path) -> TinyRefSeg:
        """The ``init`` weights, taught the words this run's scenes use that they do not know."""
        return TinyRefSeg.from_pretrained(folder).with_words(build_vocab(self.cfg)[2:])

    def optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.AdamW(model.parameters(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)

    def batches(self, step: int, attempt: int) -> Iterator[Batch]:
        """``(x [b,3,S,S], texts, soft [b,1,S/2,S/2])`` on the device, ``b = batch / world``.

        A resumed run continues with scenes it has not seen (the stream is indexed by samples
        used); each rank reads its own interleaved share of the scenes.
        """
        cfg = self.cfg
        start = step * cfg.batch // cfg.per_scene + attempt * ATTEMPT_STRIDE
        stream = _batches(cfg, _backgrounds(cfg), start=start, rank=self.rank, world=self.world)
        return ((x.to(self.device), texts, soft.to(self.device)) for x, texts, soft in stream)

    def loss(self, net: nn.Module, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x, texts, soft = batch
        return refseg_loss(net(x, texts), soft, self.cfg.dice_weight), {}

    def load_eval(self) -> bool:
        self._val = validation_set(self.cfg, _backgrounds(self.cfg))
        return bool(self._val)

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        mean, per_type = evaluate_iou(model, self._val)
        return {"val_iou": mean, **per_type}


__all__ = [
    "RefSegTask",
    "RefSegTrainConfig",
    "build_vocab",
    "evaluate_iou",
    "refseg_loss",
    "scene_samples",
]

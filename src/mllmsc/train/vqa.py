"""Training of the embedded ``tiny-vqa`` answerer (``task = "vqa"`` presets).

The answerer sits at the receiver, so it sees what the channel left of a scene, not the scene.
Each training scene is therefore sent, with probability ``p_channel``, through the shipped IA-JSCC
over AWGN at a random SNR and CBR, with uniform or (oracle-mask) importance allocation, before its
questions are asked; the rest stay clean, so the answerer also stays right on a perfect link::

    worker: scene (seed, i) ─► questions (balanced over colour / shape / count / where)
                           └─► p_channel: IA-JSCC ─► AWGN(snr) ─► x̂ ─► resize to S×S ─┐
    main:   TinyVQA(x̂, question) ─► answer logits, mask logits                         │
            loss = CE(answer) + grounding_weight · (BCE + Dice)(mask, question's mask) ◄┘

A fresh run starts the grounding from the shipped tiny-refseg (``grounding_init``) and the head
from zero knowledge; the grounding learns at ``grounder_lr_scale`` × the rate, so the head adapts
to it rather than the other way round. Validation: answer accuracy on ``val_scenes`` clean scenes
of ``val_seed`` (every question of each scene), and per question kind.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mllmsc.config import ConfigError
from mllmsc.guidance.tiny_refseg_model import TinyRefSeg
from mllmsc.tasks.tiny_vqa_model import TinyVQA, TinyVQAConfig
from mllmsc.train.loop import resolve_path
from mllmsc.train.refseg import (
    SceneStream,
    SceneTrainConfig,
    _backgrounds,
    _batches,
    build_vocab,
    refseg_loss,
)
from mllmsc.train.trainer import TrainTask

# Stride between the scene streams of successive rollback attempts (never reached by a run).
ATTEMPT_STRIDE = 50_000_000

Batch = tuple[torch.Tensor, list[str], torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class VQATrainConfig(SceneTrainConfig):
    """A ``task = "vqa"`` preset (see ``configs/tiny_vqa.toml``); loop keys:
    :class:`~mllmsc.train.trainer.TrainConfig`, scene keys: :class:`~mllmsc.train.refseg.SceneTrainConfig`.

    Attributes:
        model: the TinyVQA config; ``model.grounding`` is replaced by ``grounding_init``'s config
            on a fresh run (its vocabulary with it).
        grounding_init: a tiny-refseg folder the grounding starts from ("": from scratch, with a
            vocabulary built from the scene generator).
        grounding_weight: weight of the grounding loss on the question's mask.
        grounder_lr_scale: the grounding's learning rate relative to the head's.
        p_channel: share of the training scenes sent through IA-JSCC before being asked about.
        channel_snr_min, channel_snr_max: SNR range (dB, uniform) of those transmissions.
        channel_cbr_min, channel_cbr_max: CBR range (log-uniform).
        codec: the IA-JSCC weights folder used for them.
    """

    task: str = "vqa"
    steps: int = 2500
    batch: int = 32
    lr: float = 1e-3
    lr_min: float = 2e-5
    warmup: int = 100
    ema_decay: float = 0.998
    seed: int = 3
    model: TinyVQAConfig = field(default_factory=TinyVQAConfig)
    grounding_init: str = "src/mllmsc/weights/tiny-refseg"
    grounding_weight: float = 0.5
    grounder_lr_scale: float = 0.3
    p_channel: float = 0.5
    channel_snr_min: float = 0.0
    channel_snr_max: float = 15.0
    channel_cbr_min: float = 1 / 96
    channel_cbr_max: float = 1 / 16
    codec: str = "src/mllmsc/weights/ia-jscc"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.task != "vqa":
            raise ConfigError(f"task: a vqa preset needs task = 'vqa', got {self.task!r}")
        size = self.model.grounding.image_size
        if self.scene_size % (size // 2):
            raise ConfigError(f"scene_size ({self.scene_size}) must be a multiple of {size // 2}")
        if not 0 <= self.p_channel <= 1 or not 0 < self.channel_cbr_min <= self.channel_cbr_max <= 1:
            raise ConfigError("need 0 <= p_channel <= 1 and 0 < channel_cbr_min <= channel_cbr_max <= 1")


def pick_questions(scene, per_scene: int, rng: np.random.Generator) -> list:
    """Up to ``per_scene`` of the scene's questions, round-robin over kinds in a random order.

    Counting questions are the most numerous (one per shape, colour and pair present); without
    the balance the answerer would mostly learn to count.
    """
    by_kind: dict[str, list] = {}
    for e in scene.expressions:
        if e.type == "question":
            by_kind.setdefault(e.subtype, []).append(e)
    kinds = [k for k in rng.permutation(sorted(by_kind)).tolist()]
    for k in kinds:
        by_kind[k] = [by_kind[k][int(i)] for i in rng.permutation(len(by_kind[k]))]
    ordered = [e for group in itertools.zip_longest(*(by_kind[k] for k in kinds)) for e in group if e]
    return ordered[:per_scene]


class QuestionStream(SceneStream):
    """Scene questions (answers and masks) from clean or channel-degraded scenes."""

    _link = None

    def link(self):
        """IA-JSCC (uniform and importance allocation) and AWGN, built once per worker."""
        if self._link is None:
            from mllmsc.channel import CHANNELS
            from mllmsc.methods import METHODS
            from mllmsc.methods.base import Shared

            shared = Shared(weights={"ia-jscc": resolve_path(self.cfg.codec)})
            methods = {name: METHODS.build(name, shared=shared) for name in ("uniform-jscc", "ia-jscc")}
            self._link = (methods, CHANNELS.build("awgn"))
        return self._link

    def degrade(self, x: torch.Tensor, roi: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """``x`` through IA-JSCC at a random SNR and CBR; importance allocation on ``roi`` half the time.

        Shapes:
            x: ``[1, 3, H, W]``; roi: ``[1, 1, H, W]`` bool → ``[1, 3, H, W]``.
        """
        from mllmsc.guidance import GUIDANCE

        cfg = self.cfg
        methods, channel = self.link()
        snr = float(rng.uniform(cfg.channel_snr_min, cfg.channel_snr_max))
        cbr = float(np.exp(rng.uniform(np.log(cfg.channel_cbr_min), np.log(cfg.channel_cbr_max))))
        guided = bool(rng.random() < 0.5)
        importance = GUIDANCE.build("mask", mask=roi[0])(x, None) if guided else None
        method = methods["ia-jscc" if guided else "uniform-jscc"]
        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        return method(x, importance, channel, snr, cbr, generator=generator).x_hat

    def samples(self, scene, rng: np.random.Generator) -> list[tuple]:
        """``(image [3,S,S], question, soft mask [1,S/2,S/2], answer index)`` per picked question."""
        cfg = self.cfg
        questions = pick_questions(scene, cfg.per_scene, rng)
        if not questions:
            return []
        x = torch.from_numpy(scene.image).permute(2, 0, 1).float()[None] / 255
        if rng.random() < cfg.p_channel:
            roi = torch.from_numpy(np.any([q.mask for q in questions], axis=0))[None, None]
            with torch.inference_mode():
                x = self.degrade(x, roi, rng)
        image_size = cfg.model.grounding.image_size
        x = F.interpolate(x, size=(image_size,) * 2, mode="bilinear", align_corners=False, antialias=True)[0]
        side, out = scene.image.shape[0], image_size // 2
        block = side // out
        index = {a: i for i, a in enumerate(cfg.model.answers)}
        samples = []
        for q in questions:
            soft = q.mask.reshape(out, block, out, block).mean(axis=(1, 3), dtype=np.float32)
            samples.append((x, q.text, torch.from_numpy(soft)[None], torch.tensor(index[q.answer])))
        return samples


def validation_set(
    cfg: VQATrainConfig, backgrounds: list[Path]
) -> list[tuple[torch.Tensor, list, list, list]]:
    """``(image [1,3,H,W], questions, answers, kinds)`` of each clean validation scene (all questions)."""
    from mllmsc.data.scenes import generate_scene

    out = []
    for i in range(cfg.val_scenes):
        scene = generate_scene(
            cfg.val_seed, i, size=cfg.scene_size, backgrounds=backgrounds, n_expressions=1000
        )
        questions = [e for e in scene.expressions if e.type == "question"]
        x = torch.from_numpy(scene.image).permute(2, 0, 1).float()[None] / 255
        out.append(
            (x, [q.text for q in questions], [q.answer for q in questions], [q.subtype for q in questions])
        )
    return out


def evaluate_accuracy(model: TinyVQA, val: list[tuple]) -> tuple[float, dict[str, float]]:
    """Answer accuracy over every validation question (the mean over kinds, so counting's many
    questions do not dominate it), and per kind."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    per_kind: dict[str, list[float]] = {}
    for x, questions, answers, kinds in val:
        got = model.answer(x.to(device).expand(len(questions), -1, -1, -1), questions)
        for (answer, _), want, kind in zip(got, answers, kinds, strict=True):
            per_kind.setdefault(kind, []).append(float(answer == want))
    model.train(was_training)
    means = {k: sum(v) / len(v) for k, v in sorted(per_kind.items())}
    return sum(means.values()) / max(1, len(means)), means


class VQATask(TrainTask[VQATrainConfig]):
    """tiny-vqa's pieces for the :class:`~mllmsc.train.trainer.Trainer`."""

    name = "vqa"
    config_class = VQATrainConfig
    model_class = TinyVQA
    preset = "configs/tiny_vqa.toml"
    metric = "val_acc"
    scalars = ("answer_loss", "train_acc")
    export_dtype = None

    def __init__(self, cfg: VQATrainConfig) -> None:
        super().__init__(cfg)
        self._val: list[tuple] = []

    def model_config(self) -> TinyVQAConfig:
        if self.cfg.grounding_init:
            grounding = TinyRefSeg.config_from_folder(resolve_path(self.cfg.grounding_init))
        else:
            grounding = replace(self.cfg.model.grounding, vocab=build_vocab(self.cfg))  # type: ignore[arg-type]
        return replace(self.cfg.model, grounding=grounding)

    def same_model(self, saved: Any) -> bool:
        # The vocabulary is data (carried by the grounding weights), not a setting.
        mine = self.cfg.model
        return replace(saved, grounding=replace(saved.grounding, vocab=mine.grounding.vocab)) == mine

    def setup(self, model: nn.Module) -> None:
        if self.cfg.grounding_init:
            grounder = TinyRefSeg.from_pretrained(resolve_path(self.cfg.grounding_init))
            model.grounder.load_state_dict(grounder.state_dict())

    def optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        head = [p for n, p in model.named_parameters() if not n.startswith("grounder.")]
        grounder = [p for n, p in model.named_parameters() if n.startswith("grounder.")]
        return torch.optim.AdamW(
            [{"params": head, "lr_scale": 1.0}, {"params": grounder, "lr_scale": self.cfg.grounder_lr_scale}],
            lr=self.cfg.lr,
            weight_decay=self.cfg.weight_decay,
        )

    def batches(self, step: int, attempt: int) -> Iterator[Batch]:
        """``(x [b,3,S,S], questions, soft [b,1,S/2,S/2], answer [b])`` on the device."""
        cfg = self.cfg
        start = step * cfg.batch // cfg.per_scene + attempt * ATTEMPT_STRIDE
        stream = _batches(
            cfg, _backgrounds(cfg), start=start, rank=self.rank, world=self.world, stream_class=QuestionStream
        )  # type: ignore[arg-type]
        return ((x.to(self.device), q, s.to(self.device), a.to(self.device)) for x, q, s, a in stream)

    def loss(self, net: nn.Module, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x, questions, soft, answer = batch
        logits, mask_logits = net(x, questions)
        answer_loss = F.cross_entropy(logits, answer)
        loss = answer_loss + self.cfg.grounding_weight * refseg_loss(mask_logits, soft, self.cfg.dice_weight)
        accuracy = (logits.argmax(1) == answer).float().mean()
        return loss, {"answer_loss": answer_loss.detach(), "train_acc": accuracy}

    def load_eval(self) -> bool:
        self._val = validation_set(self.cfg, _backgrounds(self.cfg))
        return bool(self._val)

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        mean, per_kind = evaluate_accuracy(model, self._val)
        return {"val_acc": mean, **per_kind}


__all__ = ["QuestionStream", "VQATask", "VQATrainConfig", "evaluate_accuracy", "pick_questions"]

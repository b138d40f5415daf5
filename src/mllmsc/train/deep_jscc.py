"""Deep JSCC as a training task (``task = "deep-jscc"`` presets; the loop is the Trainer's).

The baseline is trained the way IA-JSCC is (:mod:`mllmsc.train.codec`), so the two compare at equal
data and compute: random crops of the same photos, per item a random SNR in ``[snr_min, snr_max]``
dB, per batch a CBR log-uniform in ``[cbr_min, cbr_max]``, AWGN, the same held-out number
(``kodak_psnr``: EMA weights, AWGN ``eval_snr_db``, CBR ``eval_cbr``, on ``eval_images``). What
differs is what Deep JSCC is: plain MSE (it has no importance input) and the uniform allocation
only.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from mllmsc.channel import CHANNELS
from mllmsc.codec import allocate_uniform, symbol_budget
from mllmsc.codec.deep_jscc import CELL, DeepJSCC, DeepJSCCConfig
from mllmsc.config import ConfigError
from mllmsc.train.codec import evaluate_kodak_psnr, load_eval_images, psnr
from mllmsc.train.crops import CropSampler, PhotoData
from mllmsc.train.loop import resolve_path
from mllmsc.train.trainer import TrainConfig, TrainTask

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class DeepJSCCTrainConfig(TrainConfig):
    """A ``task = "deep-jscc"`` preset (``configs/deep_jscc.toml``); loop keys: :class:`TrainConfig`."""

    task: str = "deep-jscc"
    steps: int = 12_000
    batch: int = 16
    lr: float = 1e-3
    lr_min: float = 1e-5
    warmup: int = 200
    ema_decay: float = 0.998
    seed: int = 0
    model: DeepJSCCConfig = field(default_factory=DeepJSCCConfig)
    data: str = "../shared/data/train"
    eval_data: str = "../shared/data/kodak"
    eval_images: tuple[str, ...] = ("kodim01.png", "kodim05.png", "kodim15.png", "kodim23.png")
    eval_snr_db: float = 10.0
    eval_cbr: float = 1 / 16
    crop: int = 96
    snr_min: float = 0.0
    snr_max: float = 20.0
    cbr_min: float = 1 / 96
    cbr_max: float = 1 / 6

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.task != "deep-jscc":
            raise ConfigError(f"task: a Deep JSCC preset needs task = 'deep-jscc', got {self.task!r}")
        if self.crop < CELL or self.crop % CELL:
            raise ConfigError(f"crop must be a positive multiple of {CELL}, got {self.crop}")
        top = self.model.k_max / (3 * CELL * CELL)
        if not 0 < self.cbr_min <= self.cbr_max <= top:
            raise ConfigError(f"need 0 < cbr_min <= cbr_max <= k_max/48 = {top:.4g}")


def sample_rate(cfg: DeepJSCCTrainConfig, batch: int, size: int, g: torch.Generator) -> torch.Tensor:
    """The uniform allocation of one batch at a CBR drawn log-uniform in ``[cbr_min, cbr_max]``.

    Shapes:
        → k ``[B, 1, S/4, S/4]`` int64.
    """
    u = float(torch.rand((), generator=g))
    cbr = math.exp(math.log(cfg.cbr_min) + u * (math.log(cfg.cbr_max) - math.log(cfg.cbr_min)))
    cells = (size // CELL) ** 2
    budget = max(1, min(symbol_budget(cbr, size, size), cells * cfg.model.k_max))
    return allocate_uniform(batch, size, size, budget, cell=CELL, k_max=cfg.model.k_max).k


class DeepJSCCTask(PhotoData, TrainTask[DeepJSCCTrainConfig]):
    """Deep JSCC's pieces for the :class:`~mllmsc.train.trainer.Trainer` (see the module docstring)."""

    name = "deep-jscc"
    config_class = DeepJSCCTrainConfig
    model_class = DeepJSCC
    preset = "configs/deep_jscc.toml"
    metric = "kodak_psnr"
    scalars = ("psnr",)
    export_dtype = torch.float16

    def __init__(self, cfg: DeepJSCCTrainConfig) -> None:
        super().__init__(cfg)
        self.channel = CHANNELS.build("awgn")
        self._eval_images: list[torch.Tensor] = []
        self.noise: torch.Generator | None = None

    def batches(self, step: int, attempt: int) -> Iterator[Batch]:
        """``(x [b,3,S,S], k [b,1,S/4,S/4], snr_db [b])`` on the device, seeded like the codec task's."""
        seed = self.cfg.seed * 1_000_003 + step + 7_777_777 * self.rank + 7919 * attempt
        g = torch.Generator().manual_seed(seed)
        self.noise = g if self.device.type == "cpu" else torch.Generator(self.device).manual_seed(seed)
        return self._draw(CropSampler(self.images(), g), g)

    def _draw(self, sampler: CropSampler, g: torch.Generator) -> Iterator[Batch]:
        cfg, device, batch = self.cfg, self.device, self.local_batch
        while True:
            x = sampler.sample(batch, cfg.crop)
            k = sample_rate(cfg, batch, cfg.crop, g)
            snr = cfg.snr_min + (cfg.snr_max - cfg.snr_min) * torch.rand(batch, generator=g)
            yield x.to(device), k.to(device), snr.to(device)

    def loss(self, net: nn.Module, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x, k, snr = batch
        out = net(x, k, snr, self.channel, generator=self.noise)
        return F.mse_loss(out.x_hat, x), {"psnr": psnr(out.x_hat.detach(), x).mean()}

    def load_eval(self) -> bool:
        folder, names = resolve_path(self.cfg.eval_data), self.cfg.eval_images
        if names and all((folder / n).is_file() for n in names):
            self._eval_images = load_eval_images(folder, names)
        return bool(self._eval_images)

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        cfg = self.cfg
        return {"kodak_psnr": evaluate_kodak_psnr(model, self._eval_images, cfg.eval_snr_db, cfg.eval_cbr)}


__all__ = ["DeepJSCCTask", "DeepJSCCTrainConfig", "sample_rate"]

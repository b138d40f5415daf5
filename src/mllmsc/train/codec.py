"""The IA-JSCC codec as a training task (``task = "codec"`` presets; the loop is the Trainer's).

Every step draws, per item, a random SNR in ``[snr_min, snr_max]`` dB and, per batch, a CBR
log-uniform in ``[cbr_min, cbr_max]``; per item an importance map (uniform, Gaussian blobs,
boxes, soft or hard) and the allocation :func:`mllmsc.codec.allocate` makes from it with a random
concentration and floor (so the model sees the allocation patterns it will meet), or a fully
random ``k`` map (so the symbol order matters everywhere). The channel is AWGN.

Loss: importance-weighted MSE, per image ``sum(w · (x̂ - x)²) / sum(w)`` with
``w = 1 + importance_weight · m`` (averaged over RGB). Normalising by ``sum(w)`` keeps the loss an
MSE whatever the map, so a uniform map trains plain MSE (the Deep JSCC objective) and an ROI map
shifts the effort inside the image towards the ROI without changing the loss scale.

Before step 0 of a fresh run the linear code's KLT is fitted to ``klt_patches`` training patches;
the linear code then learns at ``lr × transform_lr_scale``. ``log.csv`` adds the training ``psnr``
and the held-out ``kodak_psnr`` (EMA weights, uniform allocation, AWGN ``eval_snr_db``, CBR
``eval_cbr``, on ``eval_images`` of ``eval_data``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from mllmsc.channel import CHANNELS
from mllmsc.codec import IAJSCC, IAJSCCConfig, allocate, allocate_uniform, symbol_budget
from mllmsc.config import ConfigError
from mllmsc.data.io import list_images
from mllmsc.train.crops import CropSampler, PhotoData, read_rgb
from mllmsc.train.loop import resolve_path
from mllmsc.train.trainer import TrainConfig, TrainTask

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class CodecTrainConfig(TrainConfig):
    """A ``task = "codec"`` preset (``configs/codec.toml``); loop keys: :class:`TrainConfig`.

    Relative paths resolve against the working directory, then against the repository root.
    ``crop_sizes[i]`` is used from step ``crop_steps[i]`` on (a curriculum: small crops first).
    """

    task: str = "codec"
    steps: int = 150_000
    batch: int = 16
    lr: float = 1e-3
    lr_min: float = 2e-5
    warmup: int = 500
    ema_decay: float = 0.999
    seed: int = 0
    model: IAJSCCConfig = field(default_factory=IAJSCCConfig)
    data: str = "../shared/data/train"
    eval_data: str = "../shared/data/kodak"
    eval_images: tuple[str, ...] = ("kodim01.png", "kodim05.png", "kodim15.png", "kodim23.png")
    eval_snr_db: float = 10.0
    eval_cbr: float = 1 / 16
    crop_sizes: tuple[int, ...] = (96, 128)
    crop_steps: tuple[int, ...] = (0, 20_000)
    snr_min: float = 0.0
    snr_max: float = 20.0
    cbr_min: float = 1 / 96
    cbr_max: float = 1 / 6
    p_uniform: float = 0.4
    p_random_k: float = 0.15
    concentration_min: float = 0.5
    concentration_max: float = 2.0
    floor_min: float = 0.02
    floor_max: float = 0.3
    n_levels: int = 4
    importance_weight: float = 2.0
    # Patches (cell × cell, from random crops of `data`) the linear code's KLT is fitted on before
    # step 0 of a fresh run; 0 keeps the model's DCT start.
    klt_patches: int = 60_000
    # The linear code (KLT basis, power allocation) starts near-optimal: it learns at lr × this.
    transform_lr_scale: float = 0.05

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.task != "codec":
            raise ConfigError(f"task: a codec preset needs task = 'codec', got {self.task!r}")
        if len(self.crop_sizes) != len(self.crop_steps) or not self.crop_sizes:
            raise ConfigError("crop_sizes and crop_steps must have the same, non-zero length")
        if any(s % self.model.cell for s in self.crop_sizes):
            raise ConfigError(f"crop_sizes must be multiples of the cell ({self.model.cell})")
        if not 0 < self.cbr_min <= self.cbr_max <= 1:
            raise ConfigError("need 0 < cbr_min <= cbr_max <= 1")


def crop_at(cfg: CodecTrainConfig, step: int) -> int:
    size = cfg.crop_sizes[0]
    for s, start in zip(cfg.crop_sizes, cfg.crop_steps, strict=True):
        if step >= start:
            size = s
    return size


# ---- random importance maps and allocations ----


def _uniform(g: torch.Generator, lo: float = 0.0, hi: float = 1.0) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=g))


def random_importance(size: int, g: torch.Generator) -> torch.Tensor:
    """One random ROI map: Gaussian blobs or boxes, soft or thresholded to a hard mask.

    Shapes:
        → ``[1, size, size]`` float in [0, 1].
    """
    yy, xx = torch.meshgrid(
        torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32), indexing="ij"
    )
    m = torch.zeros(size, size)
    n = 1 + int(torch.randint(3, (1,), generator=g))
    if _uniform(g) < 0.6:  # Gaussian blobs
        for _ in range(n):
            cy, cx = _uniform(g, 0, size), _uniform(g, 0, size)
            sy, sx = _uniform(g, 0.05, 0.3) * size, _uniform(g, 0.05, 0.3) * size
            m = torch.maximum(m, torch.exp(-0.5 * (((yy - cy) / sy) ** 2 + ((xx - cx) / sx) ** 2)))
    else:  # boxes
        for _ in range(n):
            h, w = _uniform(g, 0.1, 0.6) * size, _uniform(g, 0.1, 0.6) * size
            top, left = _uniform(g, 0, size - h), _uniform(g, 0, size - w)
            box = (yy >= top) & (yy < top + h) & (xx >= left) & (xx < left + w)
            m = torch.where(box, torch.ones(()), m)
    if _uniform(g) < 0.5:
        m = (m > 0.5).float()
    return m[None]


def random_k(mean: float, grid: tuple[int, int], k_max: int, g: torch.Generator) -> torch.Tensor:
    """Independent per-cell ``k`` uniform in ``[0, 2·mean]`` (capped), at least one symbol.

    Shapes:
        → ``[1, Hc, Wc]`` int64.
    """
    k = torch.floor(torch.rand(1, *grid, generator=g) * (2 * mean + 1)).long().clamp(0, k_max)
    if int(k.sum()) == 0:
        k[0, 0, 0] = 1
    return k


def sample_conditions(
    cfg: CodecTrainConfig, batch: int, size: int, g: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Importance maps, allocations and SNRs for one batch.

    Shapes:
        → importance ``[B,1,S,S]``, k ``[B,1,S/cell,S/cell]`` int64, snr_db ``[B]``.
    """
    mc = cfg.model
    log_cbr = _uniform(g, math.log(cfg.cbr_min), math.log(cfg.cbr_max))
    budget = symbol_budget(math.exp(log_cbr), size, size)
    grid = (size // mc.cell, size // mc.cell)
    # The codec's gain header takes its share of the payload, as in the pipeline.
    reserved = mc.header_symbols
    budget = max(1, min(budget - reserved, mc.k_max * grid[0] * grid[1]))
    maps, ks = [], []
    for _ in range(batch):
        r = _uniform(g)
        if r < cfg.p_uniform:
            m = torch.ones(1, size, size)
            k = allocate_uniform(1, size, size, budget, cell=mc.cell, k_max=mc.k_max).k[0]
        else:
            m = torch.ones(1, size, size) if _uniform(g) < 0.2 else random_importance(size, g)
            if r < cfg.p_uniform + cfg.p_random_k:
                k = random_k(budget / (grid[0] * grid[1]), grid, mc.k_max, g)
            else:
                try:
                    k = allocate(
                        m[None],
                        budget,
                        cell=mc.cell,
                        k_max=mc.k_max,
                        concentration=_uniform(g, cfg.concentration_min, cfg.concentration_max),
                        floor=_uniform(g, cfg.floor_min, cfg.floor_max),
                        n_levels=cfg.n_levels,
                    ).k[0]
                except ValueError:  # the side information does not fit a tiny budget
                    k = allocate_uniform(1, size, size, budget, cell=mc.cell, k_max=mc.k_max).k[0]
        maps.append(m)
        ks.append(k)
    snr = cfg.snr_min + (cfg.snr_max - cfg.snr_min) * torch.rand(batch, generator=g)
    return torch.stack(maps), torch.stack(ks), snr


def weighted_mse(
    x_hat: torch.Tensor, x: torch.Tensor, importance: torch.Tensor, weight: float
) -> torch.Tensor:
    """Per-image ``sum(w·(x̂-x)²)/sum(w)``, ``w = 1 + weight·m``; mean over the batch."""
    w = 1 + weight * importance
    se = (x_hat - x).square().mean(dim=1, keepdim=True)
    return ((w * se).flatten(1).sum(1) / w.flatten(1).sum(1)).mean()


def psnr(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of images in [0, 1] (outputs clamped to [0, 1]). ``[B]``."""
    mse = (x_hat.clamp(0, 1) - x).square().flatten(1).mean(1)
    return -10 * torch.log10(mse.clamp_min(1e-10))


# ---- held-out evaluation ----


def load_eval_images(folder: str | Path, names: tuple[str, ...] | None = None) -> list[torch.Tensor]:
    """Images as ``[1, 3, H, W]`` float tensors; ``names`` picks files (all when None or empty)."""
    folder = Path(folder)
    paths = [folder / n for n in names] if names else list_images(folder)
    return [torch.from_numpy(read_rgb(p)).permute(2, 0, 1)[None].float() / 255.0 for p in paths]


@torch.inference_mode()
def evaluate_kodak_psnr(
    model: IAJSCC,
    folder: str | Path | list[torch.Tensor],
    snr_db: float = 10.0,
    cbr: float = 1 / 16,
    *,
    names: tuple[str, ...] | None = None,
    seed: int = 0,
) -> float:
    """Mean per-image PSNR with uniform allocation over AWGN (the Deep JSCC baseline setting).

    Args:
        model: the codec (put in eval mode for the call, then restored).
        folder: an image folder, or already loaded ``[1, 3, H, W]`` images.
        snr_db: channel SNR.
        cbr: channel bandwidth ratio (symbols / (3·H·W)).
        names: file names inside ``folder`` (all images when None).
        seed: noise seed; image ``i`` uses ``seed + i``, so the number is reproducible.
    """
    images = folder if isinstance(folder, list) else load_eval_images(folder, names)
    channel = CHANNELS.build("awgn")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        scores = []
        for i, x in enumerate(images):
            _, _, h, w = x.shape
            alloc = allocate_uniform(
                1, h, w, symbol_budget(cbr, h, w),
                cell=model.cell, k_max=model.k_max, reserved=model.header_symbols,
            )  # fmt: skip
            g = torch.Generator(device).manual_seed(seed + i)
            x = x.to(device)
            out = model(x, alloc.k.to(device), snr_db, channel, generator=g)
            scores.append(float(psnr(out.x_hat, x)[0]))
    finally:
        model.train(was_training)
    return sum(scores) / len(scores)


def fit_klt(model: IAJSCC, sampler: CropSampler, n_patches: int, crop: int = 64) -> None:
    """Fit the model's linear code to ``n_patches`` cell-sized patches cut from random crops.

    Every rank of a DDP run draws the same crops (the sampler is seeded from the preset alone), so
    all ranks start from the same model.
    """
    cell = model.cell
    crop = max(crop, cell) // cell * cell
    per_crop = (crop // cell) ** 2
    crops = [sampler.sample(64, crop) for _ in range(math.ceil(n_patches / (64 * per_crop)))]
    x = torch.cat(crops)
    patches = (
        x.unfold(2, cell, cell).unfold(3, cell, cell).permute(0, 2, 3, 1, 4, 5).reshape(-1, 3, cell, cell)
    )
    model.fit_transform(patches[:n_patches].to(next(model.parameters()).device))


class CodecTask(PhotoData, TrainTask[CodecTrainConfig]):
    """IA-JSCC's pieces for the :class:`~mllmsc.train.trainer.Trainer`.

    Crops, importance maps and allocations are drawn on the CPU from one generator and moved to the
    device; the channel draws its noise where the symbols are (on the CPU from that same generator,
    so a CPU run's random stream does not depend on the ``device`` option).
    """

    name = "codec"
    config_class = CodecTrainConfig
    model_class = IAJSCC
    preset = "configs/codec.toml"
    metric = "kodak_psnr"
    scalars = ("psnr",)
    export_dtype = torch.float16

    def __init__(self, cfg: CodecTrainConfig) -> None:
        super().__init__(cfg)
        self.channel = CHANNELS.build("awgn")
        self._eval_images: list[torch.Tensor] = []
        self.noise: torch.Generator | None = None  # the channel's generator, set by batches()

    def optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        linear = [p for n, p in model.named_parameters() if n.startswith("transform.")]
        neural = [p for n, p in model.named_parameters() if not n.startswith("transform.")]
        groups = [
            {"params": neural, "lr_scale": 1.0},
            {"params": linear, "lr_scale": self.cfg.transform_lr_scale},
        ]
        return torch.optim.Adam(groups, lr=self.cfg.lr)

    def setup(self, model: nn.Module) -> None:
        if self.cfg.klt_patches > 0:
            # Seeded from the preset alone: every rank of a DDP run fits the same code.
            sampler = CropSampler(self.images(), torch.Generator().manual_seed(self.cfg.seed))
            fit_klt(model, sampler, self.cfg.klt_patches)

    def batches(self, step: int, attempt: int) -> Iterator[Batch]:
        """``(x [b,3,S,S], importance [b,1,S,S], k [b,1,S/cell,S/cell], snr_db [b])`` on the device.

        The stream is seeded from the step (a resumed run's data are reproducible, not identical to
        an uninterrupted run's), the rank (each draws its own items; rank 0 what one process would)
        and the rollback ``attempt``. The crop curriculum counts the batches drawn.
        """
        seed = self.cfg.seed * 1_000_003 + step + 7_777_777 * self.rank + 7919 * attempt
        g = torch.Generator().manual_seed(seed)
        # loss() hands this to the channel; on the CPU it is `g` itself (one random stream).
        self.noise = g if self.device.type == "cpu" else torch.Generator(self.device).manual_seed(seed)
        return self._draw(CropSampler(self.images(), g), g, step)

    def _draw(self, sampler: CropSampler, g: torch.Generator, step: int) -> Iterator[Batch]:
        cfg, device, batch = self.cfg, self.device, self.local_batch
        while True:
            size = crop_at(cfg, step)
            x = sampler.sample(batch, size)
            importance, k, snr = sample_conditions(cfg, batch, size, g)
            yield x.to(device), importance.to(device), k.to(device), snr.to(device)
            step += 1

    def loss(self, net: nn.Module, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x, importance, k, snr = batch
        out = net(x, k, snr, self.channel, importance=importance, generator=self.noise)
        loss = weighted_mse(out.x_hat, x, importance, self.cfg.importance_weight)
        return loss, {"psnr": psnr(out.x_hat.detach(), x).mean()}

    def load_eval(self) -> bool:
        folder, names = resolve_path(self.cfg.eval_data), self.cfg.eval_images
        # Kodak lives in ../shared: a checkout without it trains without the held-out number.
        if names and all((folder / n).is_file() for n in names):
            self._eval_images = load_eval_images(folder, names)
        return bool(self._eval_images)

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        cfg = self.cfg
        return {"kodak_psnr": evaluate_kodak_psnr(model, self._eval_images, cfg.eval_snr_db, cfg.eval_cbr)}


__all__ = [
    "CodecTask",
    "CodecTrainConfig",
    "evaluate_kodak_psnr",
    "fit_klt",
    "psnr",
    "random_importance",
    "sample_conditions",
    "weighted_mse",
]

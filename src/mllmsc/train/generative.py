"""The generative refiner as a training task (``task = "generative"``; the loop is the Trainer's).

Each step draws crops of the training photos and, as the codec task does
(:func:`mllmsc.train.codec.sample_conditions`), per item an SNR, an importance map and an
allocation (uniform or importance-driven) at a per-batch CBR; the frozen IA-JSCC codec sends them
over AWGN. The refiner learns the residual ``x - x̂`` of what arrived as a v-prediction diffusion
(:mod:`mllmsc.decoder.refiner`), conditioned on ``x̂``, the map, the SNR and the CBR actually used.

Loss: MSE on ``v`` (the standard diffusion objective; the importance map steers the refiner as
an input, not through the loss).

``log.csv`` adds the training ``psnr_in`` (of ``x̂``) and the held-out ``kodak_psnr``: the EMA
refiner in ``balanced`` mode on centred ``eval_crop`` crops of ``eval_images`` at AWGN
``eval_snr_db``, CBR ``eval_cbr``, uniform allocation (the console also shows the fast decoder's
PSNR on the same crops).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from mllmsc.channel import CHANNELS
from mllmsc.codec import IAJSCC, allocate_uniform, symbol_budget
from mllmsc.config import ConfigError
from mllmsc.decoder.base import ReceiverContext
from mllmsc.decoder.generative import GenerativeDecoder
from mllmsc.decoder.refiner import GenerativeRefiner, RefinerConfig, noise_schedule
from mllmsc.train.codec import CodecTrainConfig, load_eval_images, psnr, sample_conditions
from mllmsc.train.crops import CropSampler, PhotoData
from mllmsc.train.loop import resolve_path
from mllmsc.train.trainer import TrainConfig, TrainTask

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class GenerativeTrainConfig(TrainConfig):
    """A ``task = "generative"`` preset (``configs/generative.toml``); loop keys: :class:`TrainConfig`.

    ``codec`` is the IA-JSCC weights folder whose outputs the refiner learns to improve (empty: the
    shipped ``ia-jscc``).
    """

    task: str = "generative"
    steps: int = 4000
    batch: int = 16
    lr: float = 2e-4
    lr_min: float = 1e-5
    warmup: int = 200
    ema_decay: float = 0.999
    seed: int = 0
    model: RefinerConfig = field(default_factory=RefinerConfig)
    codec: str = ""
    data: str = "../shared/data/train"
    eval_data: str = "../shared/data/kodak"
    eval_images: tuple[str, ...] = ("kodim01.png", "kodim05.png", "kodim15.png", "kodim23.png")
    eval_crop: int = 256
    eval_snr_db: float = 10.0
    eval_cbr: float = 1 / 16
    crop: int = 96
    snr_min: float = 0.0
    snr_max: float = 20.0
    cbr_min: float = 1 / 384
    cbr_max: float = 1 / 8
    p_uniform: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.task != "generative":
            raise ConfigError(f"task: a generative preset needs task = 'generative', got {self.task!r}")
        if self.crop % 16 or self.crop % self.model.multiple or self.eval_crop % 16:
            raise ConfigError(f"crop and eval_crop must be multiples of 16 and of {self.model.multiple}")
        if not 0 < self.cbr_min <= self.cbr_max <= 1:
            raise ConfigError("need 0 < cbr_min <= cbr_max <= 1")


class GenerativeTask(PhotoData, TrainTask[GenerativeTrainConfig]):
    """The refiner's pieces for the :class:`~mllmsc.train.trainer.Trainer` (see the module docstring)."""

    name = "generative"
    config_class = GenerativeTrainConfig
    model_class = GenerativeRefiner
    preset = "configs/generative.toml"
    metric = "kodak_psnr"
    scalars = ("psnr_in",)
    export_dtype = torch.float16

    def __init__(self, cfg: GenerativeTrainConfig) -> None:
        super().__init__(cfg)
        self.channel = CHANNELS.build("awgn")
        self.schedule = noise_schedule(cfg.model, "ddpm")
        self._codec: IAJSCC | None = None
        self._eval: list[torch.Tensor] = []

    @property
    def codec(self) -> IAJSCC:
        """The frozen IA-JSCC whose outputs are refined (loaded on first use, on the device)."""
        if self._codec is None:
            from mllmsc.weights import weights_path

            folder = resolve_path(self.cfg.codec) if self.cfg.codec else weights_path("ia-jscc")
            self._codec = IAJSCC.from_pretrained(folder).eval().requires_grad_(False).to(self.device)
        return self._codec

    def batches(self, step: int, attempt: int) -> Iterator[Batch]:
        """``(x, x̂, importance, snr_db, cbr)`` on the device: crops, what IA-JSCC delivered, the
        map it was told, the SNR and the CBR it used (payload + side information + header).
        """
        seed = self.cfg.seed * 1_000_003 + step + 7_777_777 * self.rank + 7919 * attempt
        g = torch.Generator().manual_seed(seed)
        return self._draw(CropSampler(self.images(), g), g)

    def _draw(self, sampler: CropSampler, g: torch.Generator) -> Iterator[Batch]:
        cfg, device, batch, codec = self.cfg, self.device, self.local_batch, self.codec
        codec_cfg = CodecTrainConfig(
            model=codec.config, snr_min=cfg.snr_min, snr_max=cfg.snr_max, cbr_min=cfg.cbr_min,
            cbr_max=cfg.cbr_max, p_uniform=cfg.p_uniform, p_random_k=0.0, klt_patches=0,
            crop_sizes=(cfg.crop,), crop_steps=(0,), data=cfg.data,
        )  # fmt: skip
        size = cfg.crop
        while True:
            x = sampler.sample(batch, size)
            importance, k, snr = sample_conditions(codec_cfg, batch, size, g)
            x, importance, k, snr = x.to(device), importance.to(device), k.to(device), snr.to(device)
            # On the CPU the channel draws from `g` itself: one random stream per step.
            noise = g
            if device.type != "cpu":
                noise = torch.Generator(device).manual_seed(int(torch.randint(2**62, (1,), generator=g)))
            with torch.inference_mode():
                x_hat = codec(x, k, snr, self.channel, importance=importance, generator=noise).x_hat
            x_hat = x_hat.clamp(0, 1).clone()  # out of inference mode, as the receiver sees it
            cbr = (k.flatten(1).sum(1).float() + codec.header_symbols) / (3 * size * size)
            yield x, x_hat, importance, snr, cbr

    def loss(self, net: nn.Module, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x, x_hat, importance, snr, cbr = batch
        cfg = self.cfg.model
        model: GenerativeRefiner = getattr(net, "module", net)  # DDP wraps the model
        r0 = model.fold(x - x_hat) * cfg.residual_scale
        t = torch.randint(0, cfg.train_timesteps, (x.shape[0],), device=x.device)
        eps = torch.randn_like(r0)
        r_t = self.schedule.add_noise(r0, eps, t)
        target = self.schedule.get_velocity(r0, eps, t)
        v = net(r_t, t, model.condition(x_hat, importance, snr, cbr))
        return F.mse_loss(v, target), {"psnr_in": psnr(x_hat, x).mean()}

    def load_eval(self) -> bool:
        folder, names = resolve_path(self.cfg.eval_data), self.cfg.eval_images
        if names and all((folder / n).is_file() for n in names):
            c = self.cfg.eval_crop
            for image in load_eval_images(folder, names):
                h, w = image.shape[-2:]
                top, left = max(0, (h - c) // 2), max(0, (w - c) // 2)
                self._eval.append(image[..., top : top + c, left : left + c])
        return bool(self._eval)

    @torch.inference_mode()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        cfg, codec, was_training = self.cfg, self.codec, model.training
        decoder = GenerativeDecoder("balanced", model=model)
        fast, refined = [], []
        for i, x in enumerate(self._eval):
            x = x.to(self.device)
            h, w = x.shape[-2:]
            budget = symbol_budget(cfg.eval_cbr, h, w)
            k = allocate_uniform(1, h, w, budget, cell=codec.cell, k_max=codec.k_max,
                                 reserved=codec.header_symbols).k.to(self.device)  # fmt: skip
            g = torch.Generator(self.device).manual_seed(i)
            x_hat = codec(x, k, cfg.eval_snr_db, self.channel, generator=g).x_hat
            context = ReceiverContext(
                snr_db=torch.full((1,), cfg.eval_snr_db), cbr=torch.full((1,), cfg.eval_cbr),
                importance=torch.ones(1, 1, h, w),
            )  # fmt: skip
            out = decoder(x_hat, context, generator=torch.Generator(self.device).manual_seed(i))
            fast.append(float(psnr(x_hat, x)[0]))
            refined.append(float(psnr(out.x, x)[0]))
        model.train(was_training)
        return {"kodak_psnr": sum(refined) / len(refined), "fast_psnr": sum(fast) / len(fast)}


__all__ = ["GenerativeTask", "GenerativeTrainConfig"]

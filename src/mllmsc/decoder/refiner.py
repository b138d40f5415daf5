"""The embedded generative decoder: a small conditional diffusion model on the JSCC output's residual.

The JSCC decoder gives ``x̂`` (sharp where many symbols arrived, blurred where few did). The
refiner models what is missing, the residual ``r = x - x̂``, as a diffusion in the residual's
space conditioned on everything the receiver knows::

    x̂ ─► fold 4×4 ─┐
    importance ─► fold ─┤
    SNR, CBR maps ──────┼─► cat ─► UNet2DModel(·, t) ─► v̂ ─► DDIM step ─► … ─► r̂ ─► x̂ + r̂ / s
    r_t (noise at t=T) ─┘

* **Folded**: the UNet runs on the image folded 4×4 into channels (pixel unshuffle), so a Kodak
  image is 192×128 positions and one denoising step stays well under a second on 2 CPU cores.
* **Scaled residual**: ``r`` is multiplied by ``residual_scale`` (≈ 1 / its typical RMS) so the
  diffusion sees unit-scale data; its sign and texture are what the model learns.
* **v-prediction, cosine schedule with zero terminal SNR, trailing timesteps**: what makes
  few-step DDIM sampling work (Salimans & Ho 2022; Lin et al., "Common diffusion noise schedules
  and sample steps are flawed", 2024); ``fast`` mode never calls the model.
* The user's intent reaches this model through the importance map (the guidance read it); the
  Stable Diffusion path (:mod:`mllmsc.decoder.stable_diffusion`) takes it as a text prompt.

References:
    Ho, Jain, Abbeel, "Denoising diffusion probabilistic models", NeurIPS 2020.
    Song, Meng, Ermon, "Denoising diffusion implicit models", ICLR 2021.
    DiffJSCC (code: mingyuyng/DiffJSCC) and CDM-JSCC (code: zhang-guangyi/cdm-jscc): diffusion
    on top of a JSCC output; CDM-JSCC's distortion (1 step) and perceptual (17 steps) modes are
    the published model of this decoder's fast/quality switch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mllmsc.config import ConfigError
from mllmsc.pretrained import PretrainedMixin

# SNR and CBR enter as constant maps, scaled to about [0, 1] over the supported ranges.
SNR_SCALE_DB = 20.0
CBR_LOG_RANGE = (math.log(1 / 384), math.log(1 / 4))


@dataclass(frozen=True)
class RefinerConfig:
    """Hyper-parameters of :class:`GenerativeRefiner`; saved as ``config.json`` beside the weights.

    Attributes:
        fold: pixel-unshuffle factor (the UNet runs at ``1/fold`` of the resolution).
        block_out_channels: widths of the UNet's levels (each level halves the resolution).
        layers_per_block: ResNet blocks per UNet level.
        norm_num_groups: GroupNorm groups (must divide every width).
        residual_scale: the residual is multiplied by this before the diffusion (≈ 1 / its RMS).
        train_timesteps: length of the training noise schedule.
    """

    fold: int = 4
    block_out_channels: tuple[int, ...] = (64, 96, 128)
    layers_per_block: int = 1
    norm_num_groups: int = 16
    residual_scale: float = 10.0
    train_timesteps: int = 1000

    def __post_init__(self) -> None:
        if self.fold < 1 or not self.block_out_channels or min(self.block_out_channels) < 1:
            raise ConfigError("fold and block_out_channels must be positive")
        if any(c % self.norm_num_groups for c in self.block_out_channels):
            raise ConfigError("norm_num_groups must divide every block_out_channels entry")
        if self.residual_scale <= 0 or self.train_timesteps < 2:
            raise ConfigError("residual_scale must be positive and train_timesteps >= 2")

    @property
    def multiple(self) -> int:
        """Image sides are padded to a multiple of this (the fold times the UNet's down-sampling)."""
        return self.fold * 2 ** (len(self.block_out_channels) - 1)

    @property
    def sample_channels(self) -> int:
        """Channels of the (folded) residual the diffusion runs on."""
        return 3 * self.fold**2


class GenerativeRefiner(PretrainedMixin, nn.Module):
    """A conditional diffusion UNet (diffusers ``UNet2DModel``) on the folded, scaled residual.

    Shapes:
        sample ``[B, 3·fold², H/fold, W/fold]`` (noisy scaled residual), t ``[B]`` or int,
        x_hat ``[B, 3, H, W]`` in [0, 1], importance ``[B, 1, H, W]``, snr_db ``[B]``, cbr ``[B]``
        → v-prediction, same shape as ``sample``. H and W: multiples of :attr:`RefinerConfig.multiple`.
    """

    model_name = "generative-refiner"
    config_class = RefinerConfig

    def __init__(self, config: RefinerConfig | None = None) -> None:
        super().__init__()
        from diffusers import UNet2DModel

        self.config = config = config or RefinerConfig()
        levels = len(config.block_out_channels)
        c = config.sample_channels
        self.unet = UNet2DModel(
            sample_size=32,  # informative only: the UNet is fully convolutional
            in_channels=c + c + config.fold**2 + 2,  # r_t, x̂, importance, SNR and CBR maps
            out_channels=c,
            block_out_channels=config.block_out_channels,
            layers_per_block=config.layers_per_block,
            down_block_types=("DownBlock2D",) * levels,
            up_block_types=("UpBlock2D",) * levels,
            norm_num_groups=config.norm_num_groups,
        )

    def scheduler(self, kind: str = "ddim"):
        """A fresh diffusers scheduler matching this model's training schedule (:func:`noise_schedule`)."""
        return noise_schedule(self.config, kind)

    def condition(
        self, x_hat: torch.Tensor, importance: torch.Tensor, snr_db: torch.Tensor, cbr: torch.Tensor
    ) -> torch.Tensor:
        """The conditioning channels: folded ``x̂ - 0.5``, folded importance, SNR and CBR maps.

        Shapes:
            → ``[B, 3·fold² + fold² + 2, H/fold, W/fold]``.
        """
        f = self.config.fold
        b, _, h, w = x_hat.shape
        size = (h // f, w // f)
        snr = (snr_db.float() / SNR_SCALE_DB).view(b, 1, 1, 1).expand(b, 1, *size)
        lo, hi = CBR_LOG_RANGE
        rate = ((cbr.float().log() - lo) / (hi - lo)).view(b, 1, 1, 1).expand(b, 1, *size)
        parts = [F.pixel_unshuffle(x_hat - 0.5, f), F.pixel_unshuffle(importance.to(x_hat.dtype), f)]
        return torch.cat([*parts, snr.to(x_hat.dtype), rate.to(x_hat.dtype)], dim=1)

    def fold(self, image: torch.Tensor) -> torch.Tensor:
        """``[B, 3, H, W]`` → ``[B, 3·fold², H/fold, W/fold]``."""
        return F.pixel_unshuffle(image, self.config.fold)

    def unfold(self, sample: torch.Tensor) -> torch.Tensor:
        """``[B, 3·fold², h, w]`` → ``[B, 3, h·fold, w·fold]``."""
        return F.pixel_shuffle(sample, self.config.fold)

    def forward(self, sample: torch.Tensor, t: torch.Tensor | int, condition: torch.Tensor) -> torch.Tensor:
        """The v-prediction for the noisy residual ``sample`` at timestep ``t`` given ``condition``."""
        return self.unet(torch.cat([sample, condition], dim=1), t).sample


def noise_schedule(config: RefinerConfig, kind: str = "ddim"):
    """The diffusers scheduler of a refiner: ``"ddpm"`` (training: ``add_noise``, ``get_velocity``)
    or ``"ddim"`` (sampling). Cosine betas rescaled to zero terminal SNR, v-prediction, trailing
    timesteps: a sampler of any step count starts from pure noise, as in training at ``t = T``.
    """
    from diffusers import DDIMScheduler, DDPMScheduler

    common = dict(
        num_train_timesteps=config.train_timesteps,
        beta_schedule="squaredcos_cap_v2",
        prediction_type="v_prediction",
        clip_sample=False,
        timestep_spacing="trailing",
        rescale_betas_zero_snr=True,
    )
    if kind == "ddpm":
        return DDPMScheduler(**common)
    if kind == "ddim":
        return DDIMScheduler(**common, set_alpha_to_one=True)
    raise ValueError(f"scheduler kind must be 'ddpm' or 'ddim', got {kind!r}")


def pad_to(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Replicate-pad ``[B, C, H, W]`` at the bottom and right to multiples of ``multiple``."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    return F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x


__all__ = ["GenerativeRefiner", "RefinerConfig", "noise_schedule", "pad_to"]

"""The Stable Diffusion path: an SD latent sent over the channel, denoised from the step its SNR matches.

After Guo, Chen, Sun, Ai et al., "Diffusion-driven semantic communication for generative models with
bandwidth constraints", IEEE TWC 2025 (arXiv 2407.18468). The transmitter sends the VAE latent of
a Stable Diffusion 2.1-style model; the receiver reads the channel noise on it as a step of the
forward diffusion and runs the reverse process from there, conditioned on the user's intent::

    x [B,3,H,W] ─pad─► VAE encoder (mean) × s ─► z [B,4,H/8,W/8] ─► link ─► y = z + n (σ² per element)
    y ─► x_t* = c·y + d·ε, t* = start_timestep(SNR, ᾱ) ─► DDIM(t* → 0 | prompt) ─► ẑ ─► VAE decoder ─► x̃
    fast mode: y ─► ẑ = LatentHead(y, w) = w·y (+ a learned correction) ─────────► VAE decoder ─► x̃

The link (power normalisation, symbols, allocation, channel) is :mod:`mllmsc.methods.sd_latent`;
this module holds the model side: loading a local folder (:class:`StableDiffusion`), the matched
start (:func:`start_timestep`, :func:`snr_matched_start`), the sampler (:func:`ddim_sample`), the
SNR-conditioned head (:class:`LatentHead`) and the receiver (:class:`StableDiffusionDecoder`).

**The SNR-matched start.** The forward process is ``x_t = sqrt(ᾱ_t)·z + sqrt(1 - ᾱ_t)·ε``. The
receiver holds ``y = z + n`` with ``E[z²] = P`` (per real latent element, in the diffusion model's
units, i.e. after the VAE's scaling factor) and ``n ~ N(0, σ²)``, ``σ² = P / snr`` (``snr`` linear:
the channel's SNR is relative to the signal's power). Scaling by ``sqrt(ᾱ)``::

    sqrt(ᾱ)·y = sqrt(ᾱ)·z + sqrt(ᾱ·σ²)·ε

is a forward sample exactly when ``ᾱ·σ² = 1 - ᾱ``, i.e. ``ᾱ = 1 / (1 + σ²) = snr / (snr + P)``
(the anchor's ``ᾱ = snr / (snr + E[z²])``). :func:`start_timestep` picks the training timestep
whose ``ᾱ_t`` is closest. It is not exact, and under fading or with unsent elements each element
has its own ``σ²``, so :func:`snr_matched_start` builds ``x_t = c·y + d·ε`` per element with the
noise level of ``t`` exactly: ``c = sqrt(ᾱ_t)`` and a top-up ``d² = 1 - ᾱ_t - ᾱ_t·σ²`` where the
element is cleaner than ``t`` assumes; ``c = sqrt((1 - ᾱ_t) / σ²)``, ``d = 0`` (the signal shrunk
toward the prior mean 0) where it is noisier; and ``c = 0``, ``d = sqrt(1 - ᾱ_t)`` (pure noise
around the prior mean) where the element was not sent.

**Modes**: ``fast`` runs no UNet (the MMSE-shrunk latent is decoded directly), ``balanced`` 4
DDIM steps, ``quality`` 16 (:data:`MODE_SETTINGS`); ``steps`` overrides. The DDIM update is
written out here (:func:`ddim_step`) rather than taken from ``DDIMScheduler.step``, which assumes
the steps split the whole range ``[0, T)`` evenly (``prev = t - T // steps``); a start at ``t*``
needs its own spacing. The scheduler folder still gives ``ᾱ`` and the prediction type.

**Weights**: any diffusers-layout folder (``vae/``, ``unet/``, ``text_encoder/``, ``tokenizer/``,
``scheduler/``) read with ``from_pretrained(..., local_files_only=True)``; nothing is downloaded.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from mllmsc.config import ConfigError
from mllmsc.decoder.base import MODES, Decoded, ProgressFn
from mllmsc.errors import UserError
from mllmsc.pretrained import PretrainedMixin

#: The sub-folders of a diffusers Stable Diffusion folder this path reads, with a file each must hold.
SD_PARTS: dict[str, tuple[str, ...]] = {
    "vae": ("config.json",),
    "unet": ("config.json",),
    "text_encoder": ("config.json",),
    "tokenizer": ("tokenizer_config.json", "vocab.json", "tokenizer.json"),  # any one of them
    "scheduler": ("scheduler_config.json",),
}

#: Denoising steps per mode (``fast``: the MMSE-shrunk latent, no UNet call).
MODE_SETTINGS: dict[str, int] = {"fast": 0, "balanced": 4, "quality": 16}


def check_folder(folder: str | Path, label: str = "sd_model") -> Path:
    """``folder`` if it has the diffusers layout this path needs, else a one-line :class:`UserError`.

    Args:
        folder: the local Stable Diffusion folder.
        label: how the message names the argument (``--sd-model`` on the command line).
    """
    path = Path(folder)
    needs = "needs " + ", ".join(f"{p}/" for p in SD_PARTS)
    if not path.is_dir():
        what = "no such folder" if not path.exists() else "not a folder"
        raise UserError(f"{label} {folder}: not a Stable Diffusion folder ({needs}; {what})")
    for part, files in SD_PARTS.items():
        if not any((path / part / name).is_file() for name in files):
            raise UserError(
                f"{label} {folder}: not a Stable Diffusion folder ({needs}; no {part}/{files[0]})"
            )
    return path


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


class StableDiffusion:
    """The parts of a Stable Diffusion 2.1-style model the latent link uses, on one device.

    Build with :meth:`from_folder`. The VAE maps images to latents and back, the text encoder
    embeds the prompt, the UNet predicts (ε or v) and the scheduler gives ``ᾱ_t``.

    Attributes:
        factor: pixels per latent position along a side (8 for SD: ``2 ** (VAE levels - 1)``).
        latent_channels: channels of the latent (4 for SD).
        alphas_cumprod: ``ᾱ_t`` for ``t = 0 … T-1``, float64 on the CPU.
        prediction_type: what the UNet predicts: ``epsilon``, ``v_prediction`` or ``sample``.
    """

    def __init__(self, vae, unet, text_encoder, tokenizer, scheduler) -> None:
        self.vae, self.unet, self.text_encoder = vae.eval(), unet.eval(), text_encoder.eval()
        self.tokenizer, self.scheduler = tokenizer, scheduler
        self.factor = 2 ** (len(vae.config.block_out_channels) - 1)
        self.latent_channels = int(vae.config.latent_channels)
        self.scaling_factor = float(vae.config.scaling_factor)
        self.shift_factor = float(getattr(vae.config, "shift_factor", None) or 0.0)
        self.unet_multiple = 2 ** (len(unet.config.block_out_channels) - 1)
        self.alphas_cumprod = scheduler.alphas_cumprod.detach().double().cpu()
        self.prediction_type = scheduler.config.prediction_type
        if self.prediction_type not in ("epsilon", "v_prediction", "sample"):
            raise UserError(f"scheduler prediction_type {self.prediction_type!r} is not supported")
        if int(unet.config.in_channels) != self.latent_channels:
            raise UserError(
                f"the UNet takes {unet.config.in_channels} channels but the VAE makes {self.latent_channels}"
            )

    @classmethod
    def from_folder(
        cls,
        folder: str | Path,
        *,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        label: str = "sd_model",
    ) -> StableDiffusion:
        """Load every part from a local diffusers-layout folder (never the hub).

        Raises:
            UserError: the folder lacks a part, or a part does not load (one line).
        """
        from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
        from transformers import CLIPTextModel, CLIPTokenizer
        from transformers.utils import logging as hf_logging

        path = check_folder(folder, label)
        # diffusers warns once per model that `accelerate` is absent unless told; transformers
        # draws a progress bar per model: noise on a command line that prints one line.
        diffusers_options = {"low_cpu_mem_usage": False, "torch_dtype": dtype, "local_files_only": True}
        bar = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
        parts = {}
        try:
            for name, load in (
                ("vae", lambda p: AutoencoderKL.from_pretrained(p, **diffusers_options)),
                ("unet", lambda p: UNet2DConditionModel.from_pretrained(p, **diffusers_options)),
                (
                    "text_encoder",
                    lambda p: CLIPTextModel.from_pretrained(p, dtype=dtype, local_files_only=True),
                ),
                ("tokenizer", lambda p: CLIPTokenizer.from_pretrained(p, local_files_only=True)),
                ("scheduler", lambda p: DDIMScheduler.from_pretrained(p, local_files_only=True)),
            ):
                try:
                    parts[name] = load(path / name)
                except (OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
                    raise UserError(f"{label} {folder}: {name}/ does not load: {_first_line(err)}") from None
        finally:
            if bar:
                hf_logging.enable_progress_bar()
        for name in ("vae", "unet", "text_encoder"):
            parts[name] = parts[name].to(device).requires_grad_(False)
        return cls(**parts)

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.unet.parameters()).dtype

    def latent_size(self, height: int, width: int) -> tuple[int, int]:
        """Latent grid of an ``height × width`` image (padded to whole latent positions)."""
        return math.ceil(height / self.factor), math.ceil(width / self.factor)

    @torch.inference_mode()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images → latents in the diffusion model's units (the VAE posterior's mean, scaled).

        Shapes:
            x: ``[B, 3, H, W]`` in [0, 1] → ``[B, C, ceil(H/f), ceil(W/f)]`` float32 (replicate-padded).
        """
        xp = _pad(x.to(self.device, self.dtype), self.factor)
        mean = self.vae.encode(2 * xp - 1).latent_dist.mean
        return ((mean.float() - self.shift_factor) * self.scaling_factor).contiguous()

    @torch.inference_mode()
    def decode(self, z: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Latents → images, cropped to ``size``.

        Shapes:
            z: ``[B, C, h, w]`` → ``[B, 3, size[0], size[1]]`` float32 in [0, 1].
        """
        latent = (z.to(self.device, torch.float32) / self.scaling_factor + self.shift_factor).to(self.dtype)
        image = self.vae.decode(latent).sample.float()
        return ((image + 1) / 2).clamp(0, 1)[..., : size[0], : size[1]]

    @torch.inference_mode()
    def embed(self, prompts: Sequence[str]) -> torch.Tensor:
        """Text embeddings of ``prompts`` (padded to the tokenizer's length), as the UNet reads them.

        Shapes:
            → ``[len(prompts), L, D]`` in the model's dtype.
        """
        length = int(min(self.tokenizer.model_max_length, self.text_encoder.config.max_position_embeddings))
        tokens = self.tokenizer(
            list(prompts), padding="max_length", max_length=length, truncation=True, return_tensors="pt"
        )
        return self.text_encoder(tokens.input_ids.to(self.device))[0]

    @torch.inference_mode()
    def predict(
        self, sample: torch.Tensor, t: int, embeds: torch.Tensor, guidance_scale: float = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One UNet call: the ``(x0, ε)`` estimates for ``sample`` at timestep ``t``.

        ``embeds`` holds the prompt's embedding, or ``[unconditional, prompt]`` stacked when
        ``guidance_scale != 1`` (classifier-free guidance, both halves in one batched call).

        Shapes:
            sample: ``[B, C, h, w]`` float32; embeds ``[B or 2B, L, D]`` → x0, ε like ``sample``.
        """
        b, _, h, w = sample.shape
        a = float(self.alphas_cumprod[t])
        cfg = guidance_scale != 1.0
        inp = _pad(sample, self.unet_multiple).to(self.dtype)
        if cfg:
            inp = torch.cat([inp, inp])
        out = self.unet(inp, t, encoder_hidden_states=embeds).sample.float()[..., :h, :w]
        if cfg:
            uncond, cond = out.chunk(2)
            out = uncond + guidance_scale * (cond - uncond)
        if self.prediction_type == "epsilon":
            eps = out
            x0 = (sample - math.sqrt(1 - a) * eps) / math.sqrt(a)
        elif self.prediction_type == "v_prediction":
            x0 = math.sqrt(a) * sample - math.sqrt(1 - a) * out
            eps = math.sqrt(a) * out + math.sqrt(1 - a) * sample
        else:
            x0 = out
            eps = (sample - math.sqrt(a) * x0) / math.sqrt(max(1 - a, 1e-12))
        return x0, eps


def _pad(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Replicate-pad ``[B, C, H, W]`` at the bottom and right to multiples of ``multiple``."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    return F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x


# ---- the SNR-matched start ----


def start_timestep(snr_db: float, alphas_cumprod: torch.Tensor, power: float = 1.0) -> int:
    """The training timestep whose noise level matches the channel's: ``ᾱ_t`` closest to ``snr / (snr + P)``.

    Higher SNR gives an earlier (smaller or equal) ``t``: ``ᾱ_t`` falls with ``t`` and the target
    rises with the SNR. Ties go to the smaller ``t``.

    Args:
        snr_db: the SNR per latent element, in dB (relative to the signal power ``P``).
        alphas_cumprod: ``ᾱ_t`` of the training schedule, ``[T]`` decreasing.
        power: ``P = E[z²]`` of the latent elements, in the diffusion model's units.
    """
    if power <= 0:
        raise ValueError(f"power must be positive, got {power}")
    snr = 10.0 ** (float(snr_db) / 10.0)
    target = snr / (snr + float(power))
    distance = (alphas_cumprod.double().cpu() - target).abs()
    return int(torch.argmin(distance))  # argmin returns the first of equal distances


def snr_matched_start(
    y: torch.Tensor,
    noise_var: torch.Tensor,
    sent: torch.Tensor,
    alpha_bar: float,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """A sample at the noise level ``ᾱ`` built from what arrived: ``x_t = c·y + d·ε`` per element.

    ``c = min(sqrt(ᾱ), sqrt((1-ᾱ)/σ²))`` and ``d² = 1 - ᾱ - c²σ²``, so every element carries noise
    of variance ``1 - ᾱ`` exactly; unsent elements get ``c = 0`` (see the module docstring).

    Shapes:
        y, noise_var: ``[B, C, h, w]`` float (``σ²`` per element; ignored where not sent);
        sent: bool, same shape → ``[B, C, h, w]`` float32.
    """
    a = float(alpha_bar)
    var = noise_var.float().clamp_min(1e-20)
    c = torch.minimum(torch.full_like(var, math.sqrt(a)), torch.sqrt((1 - a) / var))
    c = torch.where(sent, c, torch.zeros_like(c))
    d = torch.sqrt((1 - a - c.square() * torch.where(sent, var, torch.zeros_like(var))).clamp_min(0))
    eps = _randn(y.shape, generator, y.device)
    return c * torch.where(sent, y.float(), torch.zeros_like(c)) + d * eps


def _randn(shape: torch.Size, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """Standard normal float32 drawn on the generator's device (the caller's), then moved to ``device``."""
    where = generator.device if generator is not None else device
    return torch.randn(shape, generator=generator, device=where).to(device)


def ddim_timesteps(start: int, steps: int) -> list[int]:
    """``steps`` timesteps from ``start`` down, evenly spaced; the last one steps to the clean latent.

    Fewer when ``start + 1 < steps`` (there are only ``start + 1`` distinct timesteps).
    """
    if steps < 1:
        return []
    points = torch.linspace(float(start), 0.0, steps + 1)[:-1]
    out: list[int] = []
    for t in points.round().long().tolist():
        if not out or t < out[-1]:
            out.append(int(t))
    return out


def ddim_step(
    x0: torch.Tensor,
    eps: torch.Tensor,
    alpha_prev: float,
    alpha_t: float,
    *,
    eta: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """DDIM (Song et al. 2021, eq. 12) from ``t`` to the previous step, given the model's ``x0`` and ``ε``.

    Shapes:
        x0, eps: ``[B, C, h, w]`` → the sample at the previous step, same shape.
    """
    sigma = 0.0
    if eta > 0 and alpha_prev < 1:
        sigma = eta * math.sqrt((1 - alpha_prev) / (1 - alpha_t)) * math.sqrt(1 - alpha_t / alpha_prev)
    out = math.sqrt(alpha_prev) * x0 + math.sqrt(max(1 - alpha_prev - sigma**2, 0.0)) * eps
    if sigma > 0:
        out = out + sigma * _randn(x0.shape, generator, x0.device)
    return out


def ddim_sample(
    sd: StableDiffusion,
    sample: torch.Tensor,
    timesteps: Sequence[int],
    embeds: torch.Tensor,
    *,
    guidance_scale: float = 1.0,
    eta: float = 0.0,
    generator: torch.Generator | None = None,
    progress: ProgressFn | None = None,
    done: int = 0,
    total: int | None = None,
) -> torch.Tensor:
    """Run the reverse process from ``sample`` at ``timesteps[0]`` to a clean latent (one UNet call per step).

    ``done``/``total`` offset the progress counts (several images decoded one after another).

    Shapes:
        sample: ``[B, C, h, w]`` → ``[B, C, h, w]`` float32.
    """
    total = len(timesteps) if total is None else total
    ac = sd.alphas_cumprod
    for i, t in enumerate(timesteps):
        x0, eps = sd.predict(sample, t, embeds, guidance_scale)
        prev = timesteps[i + 1] if i + 1 < len(timesteps) else -1
        alpha_prev = float(ac[prev]) if prev >= 0 else 1.0
        sample = ddim_step(x0, eps, alpha_prev, float(ac[t]), eta=eta, generator=generator)
        if progress is not None:
            progress(done + i + 1, total)
    return sample


# ---- the SNR-conditioned head ----


def wiener_gain(noise_var: torch.Tensor, power: torch.Tensor, sent: torch.Tensor) -> torch.Tensor:
    """The MMSE shrinkage per element, ``P / (P + σ²) = snr / (1 + snr)``; 0 where nothing was sent.

    Shapes:
        noise_var: ``[B, C, h, w]``; power: ``[B]``; sent: bool ``[B, C, h, w]`` → ``[B, C, h, w]`` in [0, 1].
    """
    p = power.float().view(-1, 1, 1, 1).to(noise_var.device)
    w = p / (p + noise_var.float().clamp_min(0))
    return torch.where(sent, w, torch.zeros_like(w))


@dataclass(frozen=True)
class LatentHeadConfig:
    """Hyper-parameters of :class:`LatentHead`; saved as ``config.json`` beside the weights.

    Attributes:
        latent_channels: channels of the latent (4 for SD).
        hidden: width of the hidden convolutions.
        layers: 3×3 convolutions in all (at least 2).
    """

    latent_channels: int = 4
    hidden: int = 64
    layers: int = 3

    def __post_init__(self) -> None:
        if self.latent_channels < 1 or self.hidden < 1 or self.layers < 2:
            raise ConfigError("latent_channels and hidden must be positive and layers >= 2")


class LatentHead(PretrainedMixin, nn.Module):
    """SNR-conditioned latent estimate: the Wiener shrinkage plus a learned correction.

    The anchor adapts the VAE to the SNR; here the adaptation sits before the (unchanged) VAE
    decoder, on the received latent::

        y, w ─► cat ─► conv3×3 ─► SiLU ─► … ─► conv3×3 (zero-initialised) ─► Δ ─► w·y + Δ

    ``w = P / (P + σ²)`` per element (:func:`wiener_gain`) is the SNR map: bounded, per element
    under fading, and 0 where nothing was sent. The last convolution starts at zero, so an
    untrained head is exactly the closed-form MMSE shrinkage ``w·y``. Training it needs Stable
    Diffusion weights and their latents over the channel; it is not done in this project (no
    trained head ships); a trained one loads with ``LatentHead.from_pretrained(folder)``.

    Shapes:
        y: ``[B, C, h, w]`` (0 where not sent), w: ``[B, C, h, w]`` in [0, 1] → ``[B, C, h, w]``.
    """

    model_name = "sd-latent-head"
    config_class = LatentHeadConfig

    def __init__(self, config: LatentHeadConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or LatentHeadConfig()
        c, width = config.latent_channels, config.hidden
        layers: list[nn.Module] = [nn.Conv2d(2 * c, width, 3, padding=1), nn.SiLU()]
        for _ in range(config.layers - 2):
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.SiLU()]
        last = nn.Conv2d(width, c, 3, padding=1)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.net = nn.Sequential(*layers, last)

    def forward(self, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return w * y + self.net(torch.cat([y, w], dim=1))


# ---- the receiver ----


@dataclass(frozen=True)
class ReceivedLatent:
    """What the link hands the receiver: the latent estimate, its noise and what was sent.

    Attributes:
        y: zero-forcing estimate of the latent (``z + n``), 0 where not sent, ``[B, C, h, w]`` float32.
        noise_var: variance of ``n`` per element in the latent's units, ``[B, C, h, w]`` (any value
            where not sent).
        sent: which elements arrived, bool ``[B, C, h, w]``.
        power: ``P = E[z²]`` of the sent elements per image (from the gain header), ``[B]``.
    """

    y: torch.Tensor
    noise_var: torch.Tensor
    sent: torch.Tensor
    power: torch.Tensor

    def snr_db(self) -> torch.Tensor:
        """The average SNR per sent element, ``10·log10(mean(P / σ²))`` per image, ``[B]``.

        The nominal SNR under AWGN; the realised fade under block fading; higher with repetition.
        """
        snr = self.power.view(-1, 1, 1, 1).to(self.noise_var) / self.noise_var.clamp_min(1e-20)
        snr = torch.where(self.sent, snr, torch.zeros_like(snr)).flatten(1).sum(1)
        count = self.sent.flatten(1).sum(1).clamp_min(1)
        return 10 * torch.log10((snr / count).clamp_min(1e-12))


class StableDiffusionDecoder:
    """The receiver of the latent link: SNR-matched start, DDIM with the prompt, VAE decoder.

    Args:
        sd: the loaded model.
        mode: ``fast`` (no UNet call: decode the head's estimate), ``balanced`` or ``quality``.
        steps: override the mode's denoising steps (:data:`MODE_SETTINGS`).
        guidance_scale: classifier-free guidance scale; 1.0 (default) runs no unconditional pass.
        eta: DDIM stochasticity (0: deterministic).
        head: a :class:`LatentHead`, a folder holding one, or ``None`` (the closed-form shrinkage).
            It gives the ``fast`` estimate; the diffusion modes start from ``y`` itself, as the
            matched start needs the noisy observation, not an estimate of ``z``.

    Raises:
        UserError: an unknown mode, negative steps, a guidance scale below 0, a head that does
            not fit the model.
    """

    name = "sd-latent"

    def __init__(
        self,
        sd: StableDiffusion,
        mode: str = "balanced",
        *,
        steps: int | None = None,
        guidance_scale: float = 1.0,
        eta: float = 0.0,
        head: LatentHead | str | Path | None = None,
    ) -> None:
        if mode not in MODES:
            raise UserError(f"decoder mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.sd, self.mode = sd, mode
        self.steps = MODE_SETTINGS[mode] if steps is None else int(steps)
        if self.steps < 0:
            raise UserError(f"decoder steps must be >= 0, got {self.steps}")
        if not (math.isfinite(guidance_scale) and guidance_scale >= 0):
            raise UserError(f"guidance_scale must be a number >= 0, got {guidance_scale!r}")
        if not 0 <= eta <= 1:
            raise UserError(f"eta must lie in [0, 1], got {eta!r}")
        self.guidance_scale, self.eta = float(guidance_scale), float(eta)
        if head is not None and not isinstance(head, LatentHead):
            head = LatentHead.from_pretrained(head)
        if head is not None and head.config.latent_channels != sd.latent_channels:
            raise UserError(
                f"the latent head takes {head.config.latent_channels} channels, the model has "
                f"{sd.latent_channels}"
            )
        self.head = head.to(sd.device).eval() if head is not None else None

    @torch.inference_mode()
    def estimate(self, received: ReceivedLatent) -> torch.Tensor:
        """The MMSE estimate of the latent (plus the head's correction when one is loaded).

        Shapes:
            → ``[B, C, h, w]`` float32.
        """
        w = wiener_gain(received.noise_var, received.power, received.sent)
        y = torch.where(received.sent, received.y.float(), torch.zeros_like(w))
        if self.head is None:
            return w * y
        return self.head(y.to(self.sd.device), w.to(self.sd.device)).float()

    @torch.inference_mode()
    def __call__(
        self,
        received: ReceivedLatent,
        *,
        size: tuple[int, int],
        prompt: str = "",
        generator: torch.Generator | None = None,
        progress: ProgressFn | None = None,
    ) -> Decoded:
        """Decode what arrived into images of ``size`` (``details["start_timestep"]``: one per image).

        Shapes:
            received.y: ``[B, C, h, w]`` → ``Decoded.x`` ``[B, 3, size[0], size[1]]`` in [0, 1].
        """
        start = time.perf_counter()
        details: dict[str, object] = {
            "guidance_scale": self.guidance_scale,
            "head": "learned" if self.head is not None else "closed-form",
        }
        if self.steps == 0:
            z = self.estimate(received)
            details["start_timestep"] = None
            run = 0
        else:
            z, starts, run = self._denoise(received, prompt, generator, progress)
            details["start_timestep"] = starts
        x = self.sd.decode(z, size)
        latency = (time.perf_counter() - start) * 1000
        return Decoded(x=x, name=self.name, mode=self.mode, steps=run, latency_ms=latency, details=details)

    def _denoise(self, received, prompt, generator, progress) -> tuple[torch.Tensor, list[int], int]:
        """Each image from its own matched start (its power and SNR set ``t*``) down to 0."""
        sd = self.sd
        embeds = sd.embed([prompt])
        if self.guidance_scale != 1.0:
            embeds = torch.cat([sd.embed([""]), embeds])
        snr_db = received.snr_db()
        b = received.y.shape[0]
        plans = [
            ddim_timesteps(
                start_timestep(float(snr_db[i]), sd.alphas_cumprod, float(received.power[i])), self.steps
            )
            for i in range(b)
        ]
        total = sum(len(p) for p in plans)
        out, done = [], 0
        for i, plan in enumerate(plans):
            t = plan[0]
            x_t = snr_matched_start(
                received.y[i : i + 1].to(sd.device),
                received.noise_var[i : i + 1].to(sd.device),
                received.sent[i : i + 1].to(sd.device),
                float(sd.alphas_cumprod[t]),
                generator=generator,
            )
            z = ddim_sample(
                sd, x_t, plan, embeds, guidance_scale=self.guidance_scale, eta=self.eta,
                generator=generator, progress=progress, done=done, total=total,
            )  # fmt: skip
            out.append(z)
            done += len(plan)
        return torch.cat(out), [p[0] for p in plans], max(len(p) for p in plans)


__all__ = [
    "MODE_SETTINGS",
    "SD_PARTS",
    "LatentHead",
    "LatentHeadConfig",
    "ReceivedLatent",
    "StableDiffusion",
    "StableDiffusionDecoder",
    "check_folder",
    "ddim_sample",
    "ddim_step",
    "ddim_timesteps",
    "snr_matched_start",
    "start_timestep",
    "wiener_gain",
]

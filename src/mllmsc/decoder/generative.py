"""The ``generative`` decoder: the embedded diffusion refiner, sampled in one of three modes.

=========== ======= ======= ========== ====================================================
mode        steps   sampler perception what
=========== ======= ======= ========== ====================================================
fast        0       —       —          the JSCC decoder's output (no diffusion)
balanced    4       ddim    0.2        a few deterministic steps, a fifth of the way from
                                       the posterior mean to the sample
quality     16      ddim    0.2        the same with a finer sampler: more of the model's
                                       texture where the channel left none
=========== ======= ======= ========== ====================================================

**Perception** places the output on the distortion-perception trade-off. The sampler's first
model call (at the last training timestep, where the input is pure noise) predicts the posterior
mean of the residual, the MMSE estimate ``r̄``; the full run draws a sample ``r_s``. The decoder
returns ``r̄ + p · (r_s − r̄)``: ``p = 0`` is the MMSE estimate, ``p = 1`` the sample. Freirich,
Michaeli and Meir (NeurIPS 2021) show that the estimators optimal under a perceptual constraint are
such interpolations between the MMSE estimate and the posterior sample; for a perfect sampler the
MSE grows as ``MMSE · (1 + p²)``, so a full sample costs 3 dB.

The modes' sampler and ``p`` were chosen on crops of the training photos, not Kodak
(``benchmarks/generative_tradeoff.py``, BENCHMARKS.md): per mode, the lowest mean NIQE within a
PSNR budget against ``fast`` (0.75 dB ``balanced``, 1.5 dB ``quality``). NIQE is not monotone in
``p``: it is best near 0.2 and worse again for full samples, whose texture it reads as unnatural;
16 DDIM steps beat 16 ancestral (DDPM) steps there.

Steps, sampler and perception can be overridden per decoder. Both samplers start from noise at
the last training timestep (zero terminal SNR, trailing spacing), so every step count is a valid
schedule. (DDIM with ``eta = 1`` would be the stochastic sampler, but at the zero-SNR first step
diffusers' DDIM takes the square root of a rounding-negative number and returns NaN; its DDPM
sampler, ``sampler="ddpm"``, has no such term.)
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from mllmsc.decoder.base import MODES, Decoded, Decoder, ProgressFn, ReceiverContext
from mllmsc.decoder.refiner import GenerativeRefiner, pad_to
from mllmsc.errors import UserError

#: (denoising steps, sampler, perception) per mode.
MODE_SETTINGS: dict[str, tuple[int, str, float]] = {
    "fast": (0, "none", 0.0),
    "balanced": (4, "ddim", 0.2),
    "quality": (16, "ddim", 0.2),
}
SAMPLERS = ("ddim", "ddpm")


class GenerativeDecoder(Decoder):
    """The embedded diffusion refiner on top of the JSCC output.

    Args:
        mode: ``fast``, ``balanced`` or ``quality`` (:data:`MODE_SETTINGS`).
        weights: a refiner folder; default: the shipped ``generative-refiner`` weights.
        model: an already loaded refiner instead of ``weights``.
        steps, sampler, perception: override the mode's settings (``sampler``: ``ddim`` or
            ``ddpm``; ``perception`` in [0, 1], see the module docstring).

    Raises:
        UserError: an unknown mode or sampler, a negative step count, a perception outside [0, 1].
        WeightsError: the weights folder is missing or is not a refiner.
    """

    name = "generative"

    def __init__(
        self,
        mode: str = "balanced",
        *,
        weights: str | Path | None = None,
        model: GenerativeRefiner | None = None,
        steps: int | None = None,
        sampler: str | None = None,
        perception: float | None = None,
    ) -> None:
        if mode not in MODES:
            raise UserError(f"decoder mode must be one of {', '.join(MODES)}, got {mode!r}")
        default_steps, default_sampler, default_perception = MODE_SETTINGS[mode]
        self.mode = mode
        self.steps = default_steps if steps is None else int(steps)
        self.perception = default_perception if perception is None else float(perception)
        self.sampler = sampler or (default_sampler if default_sampler in SAMPLERS else "ddim")
        if self.steps < 0:
            raise UserError(f"decoder steps must be >= 0, got {self.steps}")
        if self.sampler not in SAMPLERS:
            raise UserError(f"decoder sampler must be one of {', '.join(SAMPLERS)}, got {self.sampler!r}")
        if not 0.0 <= self.perception <= 1.0:
            raise UserError(f"decoder perception must be in [0, 1], got {self.perception}")
        if model is None and self.steps > 0:  # `fast` needs no weights at all
            from mllmsc.weights import weights_path

            folder = Path(weights) if weights is not None else weights_path("generative-refiner")
            model = GenerativeRefiner.from_pretrained(folder)
        self.model = model.eval() if model is not None else None

    @torch.inference_mode()
    def decode(
        self,
        x_hat: torch.Tensor,
        context: ReceiverContext,
        *,
        generator: torch.Generator | None = None,
        progress: ProgressFn | None = None,
    ) -> Decoded:
        start = time.perf_counter()
        if self.steps == 0 or self.model is None:
            return Decoded(x=x_hat, name=self.name, mode=self.mode, steps=0, latency_ms=0.0)
        model = self.model
        device = next(model.parameters()).device
        b, _, height, width = x_hat.shape
        multiple = model.config.multiple
        xp = pad_to(x_hat.to(device).float(), multiple)
        mp = pad_to(context.importance.to(device).float(), multiple)
        condition = model.condition(xp, mp, context.snr_db.to(device), context.cbr.to(device))

        scheduler = model.scheduler(self.sampler)
        scheduler.set_timesteps(self.steps, device=device)
        shape = (b, model.config.sample_channels, *condition.shape[-2:])
        sample = torch.randn(shape, generator=generator, device=device)
        mean = None
        for i, t in enumerate(scheduler.timesteps):
            v = model(sample, t, condition)
            out = scheduler.step(v, t, sample, generator=generator)
            if mean is None:  # at t = T the input is pure noise: x0-prediction = posterior mean
                mean = out.pred_original_sample
            sample = out.prev_sample
            if progress is not None:
                progress(i + 1, self.steps)
        sample = mean + self.perception * (sample - mean)
        residual = model.unfold(sample) / model.config.residual_scale
        x = (xp + residual).clamp(0, 1)[..., :height, :width].to(x_hat.device)
        latency = (time.perf_counter() - start) * 1000
        return Decoded(
            x=x, name=self.name, mode=self.mode, steps=self.steps, latency_ms=latency,
            details={"sampler": self.sampler, "perception": self.perception},
        )  # fmt: skip


__all__ = ["MODE_SETTINGS", "GenerativeDecoder"]

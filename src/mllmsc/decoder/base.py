"""What every receiver-side decoder stage implements (see :mod:`mllmsc.decoder`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

#: The receiver's compute switch: no diffusion, a few denoising steps, more steps and a stochastic sampler.
MODES = ("fast", "balanced", "quality")

#: Called after each denoising step with ``(done, total)``.
ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class ReceiverContext:
    """What the receiver knows besides the image: the channel state, the budget and the intent.

    Attributes:
        snr_db: the SNR the link ran at, ``[B]`` float.
        cbr: the channel bandwidth ratio the link used, ``[B]`` float.
        importance: the importance map the transmitter used (``[B, 1, H, W]`` in [0, 1]); all ones
            for uniform allocation.
        prompt: the user's intent, or ``""``.
    """

    snr_db: torch.Tensor
    cbr: torch.Tensor
    importance: torch.Tensor
    prompt: str = ""


@dataclass(frozen=True)
class Decoded:
    """A decoder stage's output.

    Attributes:
        x: the decoded images, ``[B, 3, H, W]`` in [0, 1].
        name: the decoder's registry name.
        mode: the compute mode it ran in.
        steps: denoising steps run (0: no diffusion).
        latency_ms: wall time of this stage.
        details: anything else worth reporting (the sampler).
    """

    x: torch.Tensor
    name: str
    mode: str
    steps: int
    latency_ms: float
    details: dict[str, object] = field(default_factory=dict)

    def report(self) -> dict[str, object]:
        """The ``decoder`` entry of ``report.json``: ``{name, mode, steps, latency_ms}``."""
        return {"name": self.name, "mode": self.mode, "steps": self.steps, "latency_ms": self.latency_ms}


class Decoder:
    """A receiver stage after the JSCC decoder: ``decoder(x_hat, context) → Decoded``.

    Subclasses set :attr:`name` and implement :meth:`decode`.
    """

    name: str = ""
    mode: str = "fast"

    def __call__(
        self,
        x_hat: torch.Tensor,
        context: ReceiverContext,
        *,
        generator: torch.Generator | None = None,
        progress: ProgressFn | None = None,
    ) -> Decoded:
        """Decode the JSCC output ``x_hat`` ``[B, 3, H, W]`` in [0, 1] given what the receiver knows."""
        if x_hat.dim() != 4 or x_hat.shape[1] != 3:
            raise ValueError(f"x_hat must have shape [B, 3, H, W], got {tuple(x_hat.shape)}")
        return self.decode(x_hat, context, generator=generator, progress=progress)

    def decode(
        self,
        x_hat: torch.Tensor,
        context: ReceiverContext,
        *,
        generator: torch.Generator | None = None,
        progress: ProgressFn | None = None,
    ) -> Decoded:
        raise NotImplementedError


class FastDecoder(Decoder):
    """The JSCC decoder's own output, unchanged: no diffusion, no extra latency."""

    name = "fast"

    def __init__(self, mode: str = "fast") -> None:
        if mode != "fast":
            from mllmsc.errors import UserError

            raise UserError(f"the fast decoder runs no diffusion: its only mode is 'fast', got {mode!r}")

    def decode(self, x_hat, context, *, generator=None, progress=None) -> Decoded:
        return Decoded(x=x_hat, name=self.name, mode="fast", steps=0, latency_ms=0.0)


__all__ = ["MODES", "Decoded", "Decoder", "FastDecoder", "ProgressFn", "ReceiverContext"]

"""Transmitter-side power normalisation (the channel never rescales what it is given)."""

from __future__ import annotations

import torch


def power_scale(z: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The factor per item that gives its sent symbols average power 1: ``sqrt(count / energy)``.

    A receiver that must undo the normalisation (e.g. a linear analog code) needs this number; the
    transmitter sends it as a header (see :mod:`mllmsc.codec.model`).

    Shapes:
        z: complex ``[B, ...]``, mask: bool broadcastable to ``z`` → ``[B]`` float.

    Raises:
        ValueError: an item with no sent symbols.
    """
    return _sent_and_scale(z, mask)[1]


def _sent_and_scale(z: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``z`` with the unsent symbols zeroed, and the per-item scale to unit power."""
    if not torch.is_complex(z):
        raise TypeError(f"power_normalize expects complex symbols, got {z.dtype}")
    dims = tuple(range(1, z.dim()))
    if mask is None:
        count = torch.full((z.shape[0],), z[0].numel(), dtype=torch.float32, device=z.device)
        sent = z
    else:
        mask = mask.to(torch.bool).expand_as(z)
        count = mask.sum(dim=dims).float()
        sent = torch.where(mask, z, torch.zeros((), dtype=z.dtype, device=z.device))
    if (count == 0).any():
        raise ValueError("power_normalize: an item sends no symbols")
    energy = sent.abs().square().sum(dim=dims)
    # Guard an all-zero item: dividing by zero power would give NaN, and zeros are already "sent".
    return sent, torch.rsqrt((energy / count).clamp_min(1e-12))


def power_normalize(z: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Scale each item so its sent symbols have average power 1.

    Args:
        z: complex symbols, ``[B, ...]``.
        mask: which symbols are actually sent, bool broadcastable to ``z``; unsent symbols are set
            to 0 and do not count in the average. ``None`` sends every symbol.

    Shapes:
        returns the shape and dtype of ``z``.

    Raises:
        ValueError: an item with no sent symbols.
    """
    sent, scale = _sent_and_scale(z, mask)
    return sent * scale.view(-1, *([1] * (z.dim() - 1))).to(sent.dtype)

"""What every channel shares: SNR → noise variance, and drawing from the caller's generator.

Sionna's blocks draw their randomness from ``self.torch_rng``, a process-wide generator in
``sionna.phy.config``. We want one result per ``torch.Generator`` (so a sweep row is reproducible
whatever ran before it), so :class:`SeededBlock` lets a Sionna block draw from a generator handed in
for the length of one call, and falls back to torch's default generator (``torch.manual_seed``)
when none is given.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from mllmsc.channel.statistics import Fading
from mllmsc.types import ChannelOutput


def snr_vector(snr_db: float | torch.Tensor, batch: int, device: torch.device) -> torch.Tensor:
    """One SNR per item: a float, a 0-d or a ``[B]`` tensor in dB → ``[B]`` float32 (finite).

    Shapes:
        returns ``[B]``; a scalar SNR is repeated for every item.
    """
    snr = torch.as_tensor(snr_db, dtype=torch.float32, device=device)
    if snr.dim() == 0:
        snr = snr.expand(batch)
    if snr.shape != (batch,):
        raise ValueError(f"snr_db must be a scalar or have shape [{batch}], got {tuple(snr.shape)}")
    if not torch.isfinite(snr).all():
        raise ValueError("snr_db must be finite")
    return snr


def noise_variance(snr_db: float | torch.Tensor, batch: int, device: torch.device) -> torch.Tensor:
    """Noise variance per complex symbol for unit-power symbols: ``10^(-snr_db/10)``.

    Shapes:
        snr_db: float, 0-d or ``[B]`` → ``[B]`` float32.
    """
    return torch.pow(10.0, -snr_vector(snr_db, batch, device) / 10.0)


class SeededBlock:
    """Mixin for a Sionna block: draw from a per-call ``torch.Generator`` instead of Sionna's own.

    Put it first in the bases: ``class _AWGN(SeededBlock, sionna.phy.channel.AWGN)``.
    """

    _generator: torch.Generator | None = None

    @property
    def torch_rng(self) -> torch.Generator:  # overrides sionna.phy.object.Object.torch_rng
        return self._generator if self._generator is not None else torch.default_generator

    @contextlib.contextmanager
    def drawing_from(self, generator: torch.Generator | None) -> Iterator[None]:
        """Within the block, every draw comes from ``generator`` (torch's default when None)."""
        self._generator = generator
        try:
            yield
        finally:
            self._generator = None


class Channel(nn.Module):
    """Base class: ``forward(z, snr_db, *, generator=None) -> ChannelOutput``.

    Subclasses implement :meth:`transmit` and :attr:`fading`. The input must be complex with a
    batch axis first; the transmitter normalises its power (:func:`mllmsc.channel.power_normalize`),
    not the channel.
    """

    def __init__(self) -> None:
        super().__init__()
        self._blocks: dict[tuple[str, str], object] = {}

    def sionna_block(self, name: str, factory, device: torch.device):
        """The Sionna block ``factory(device=...)`` for ``device``, built once and cached.

        Sionna fixes a block's device at construction, so the user's choice of device (the device
        of ``z``) decides which instance runs; ``.to()`` on this module need not know about them.
        """
        key = (name, str(device))
        if key not in self._blocks:
            self._blocks[key] = factory(device=str(device))
        return self._blocks[key]

    def forward(
        self,
        z: torch.Tensor,
        snr_db: float | torch.Tensor,
        *,
        generator: torch.Generator | None = None,
    ) -> ChannelOutput:
        """Send ``z`` through the channel.

        Args:
            z: complex channel input with unit average power.
            snr_db: SNR in dB, a float, a 0-d tensor or ``[B]``.
            generator: source of all randomness of this call (noise and fading).

        Shapes:
            z: ``[B, ...]`` complex64; returns ``y`` of the same shape and dtype,
            ``noise_var`` ``[B]``.
        """
        if not torch.is_complex(z):
            raise TypeError(f"channel input must be complex, got {z.dtype}")
        if z.dim() < 2:
            raise ValueError(f"channel input needs a batch axis and symbols, got shape {tuple(z.shape)}")
        if z.dtype != torch.complex64:
            raise TypeError(f"channel input must be complex64 (Sionna single precision), got {z.dtype}")
        noise_var = noise_variance(snr_db, z.shape[0], z.device)
        return self.transmit(z, noise_var, generator)

    @property
    def fading(self) -> Fading:
        """The statistics of this channel's ``h`` (law of ``|h|²``, coherence), described once.

        Callers that need them (capacity, MCS choice, BER closed forms) read this, never the type.
        """
        raise NotImplementedError(f"{type(self).__name__} does not describe its fading statistics")

    def transmit(
        self, z: torch.Tensor, noise_var: torch.Tensor, generator: torch.Generator | None
    ) -> ChannelOutput:
        raise NotImplementedError

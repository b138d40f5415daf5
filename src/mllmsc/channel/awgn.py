"""Additive white Gaussian noise, Sionna's ``AWGN`` block."""

from __future__ import annotations

import sionna.phy.channel as sch
import torch

from mllmsc.channel.base import Channel, SeededBlock
from mllmsc.channel.statistics import Fading
from mllmsc.types import ChannelOutput


class _SionnaAWGN(SeededBlock, sch.AWGN):
    pass


class AWGNChannel(Channel):
    """``y = z + n``, ``n ~ CN(0, noise_var)`` per complex symbol.

    Shapes:
        z: ``[B, ...]`` complex64 → y: same; h: ``None``; noise_var: ``[B]``.
    """

    @property
    def fading(self) -> Fading:
        """No fading: ``|h|² = 1``."""
        return Fading.none()

    def transmit(
        self, z: torch.Tensor, noise_var: torch.Tensor, generator: torch.Generator | None
    ) -> ChannelOutput:
        awgn = self.sionna_block("awgn", _SionnaAWGN, z.device)
        with awgn.drawing_from(generator):
            y = awgn(z, noise_var)
        return ChannelOutput(y=y, h=None, noise_var=noise_var)

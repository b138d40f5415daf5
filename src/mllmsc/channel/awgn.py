"""Additive white Gaussian noise: ``y = z + n``, ``n ~ CN(0, N0)``.

The noise is drawn here, in the same draws and the same arithmetic as Sionna's
``sionna.phy.channel.AWGN`` (``tests/channel/test_awgn.py`` holds the two equal, bit for bit, for
the same generator), rather than by calling that block: importing Sionna builds its
``torch.compile``'d functions and costs ~4 s on a 2-core CPU, longer than a whole ``mllmsc
transmit`` on AWGN, the channel nearly every first run uses. Fading and OFDM channels, which need
Sionna for their channel models anyway, add their noise with the same :func:`add_awgn`.
"""

from __future__ import annotations

import math

import torch

from mllmsc.channel.base import Channel
from mllmsc.channel.statistics import Fading
from mllmsc.types import ChannelOutput


def add_awgn(x: torch.Tensor, noise_var: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """``x + n`` with ``n ~ CN(0, noise_var)``: variance ``noise_var / 2`` per real dimension.

    As Sionna's ``AWGN``: the real then the imaginary parts are drawn from ``generator`` (torch's
    default when ``None``) with ``torch.normal(0, √½)``, then scaled by ``√noise_var``.

    Shapes:
        x: ``[B, ...]`` complex64; noise_var: any shape that broadcasts to ``x`` once axes are
        appended at the end (``[B]`` gives one N0 per item, ``[]`` one for all) → ``x``'s shape.
    """
    std = math.sqrt(0.5)
    real = torch.normal(0.0, std, size=x.shape, dtype=x.real.dtype, device=x.device, generator=generator)
    imag = torch.normal(0.0, std, size=x.shape, dtype=x.real.dtype, device=x.device, generator=generator)
    noise_var = torch.as_tensor(noise_var, dtype=x.real.dtype, device=x.device)
    noise_var = noise_var.reshape(noise_var.shape + (1,) * (x.dim() - noise_var.dim()))
    return x + torch.complex(real, imag) * noise_var.sqrt().to(x.dtype)


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
        return ChannelOutput(y=add_awgn(z, noise_var, generator), h=None, noise_var=noise_var)

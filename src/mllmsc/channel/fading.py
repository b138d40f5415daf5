"""Flat block fading: Rayleigh (Sionna's ``RayleighBlockFading``) and Rician (LOS + Rayleigh).

    z ──► × h ──► + n ──► y ──► [csi="equalize"]  MMSE:  ẑ = h* y / (|h|² + N0)   (h kept for analysis)
                              [csi="decoder"]   y and h handed to the decoder as they are

Coherence: ``h`` is constant over one image (``coherence=None``), over consecutive blocks of
``coherence`` symbols in the flattened symbol order of each item, or per symbol (``coherence=1``).
"""

from __future__ import annotations

import math
from typing import Literal

import sionna.phy.channel as sch
import torch

from mllmsc.channel.awgn import add_awgn
from mllmsc.channel.base import Channel, SeededBlock
from mllmsc.channel.statistics import Fading
from mllmsc.types import ChannelOutput

Csi = Literal["equalize", "decoder"]


class _SionnaRayleigh(SeededBlock, sch.RayleighBlockFading):
    pass


class RayleighChannel(Channel):
    """Rayleigh block fading, ``h ~ CN(0, 1)``, with perfect CSI at the receiver.

    Args:
        coherence: symbols per fading block (``None``: one ``h`` per item; ``1``: per symbol).
        csi: ``"equalize"`` returns the MMSE estimate of ``z`` in ``y``; ``"decoder"`` returns the
            raw ``y = h z + n`` and leaves ``h`` to the decoder.

    Shapes:
        z: ``[B, ...]`` complex64 → y, h: same shape as ``z``; noise_var: ``[B]``.
    """

    def __init__(self, coherence: int | None = None, csi: Csi = "equalize") -> None:
        super().__init__()
        if coherence is not None and coherence < 1:
            raise ValueError(f"coherence must be a positive number of symbols, got {coherence}")
        if csi not in ("equalize", "decoder"):
            raise ValueError(f"csi must be 'equalize' or 'decoder', got {csi!r}")
        self.coherence = coherence
        self.csi = csi

    @property
    def fading(self) -> Fading:
        """``|h|² ~ Exp(1)``, one ``h`` per :attr:`coherence` symbols."""
        return Fading.rayleigh(self.coherence)

    def draw_h(self, z: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """One Rayleigh realisation for every symbol of ``z``, constant within each block.

        Shapes:
            z: ``[B, ...]`` → returns ``[B, ...]`` complex64.
        """
        batch, n = z.shape[0], z[0].numel()
        block = n if self.coherence is None else min(self.coherence, n)
        num_blocks = math.ceil(n / block)
        fading = self.sionna_block("rayleigh", _rayleigh_siso, z.device)
        with fading.drawing_from(generator):
            # Sionna draws [batch, rx, rx_ant, tx, tx_ant, paths, time]; one draw per block.
            a, _ = fading(batch * num_blocks, 1)
        h = a.reshape(batch, num_blocks)
        return h.repeat_interleave(block, dim=1)[:, :n].reshape(z.shape)

    def transmit(
        self, z: torch.Tensor, noise_var: torch.Tensor, generator: torch.Generator | None
    ) -> ChannelOutput:
        h = self.draw_h(z, generator)
        return self._receive(z, h, noise_var, generator)

    def _receive(
        self,
        z: torch.Tensor,
        h: torch.Tensor,
        noise_var: torch.Tensor,
        generator: torch.Generator | None,
    ) -> ChannelOutput:
        y = add_awgn(h * z, noise_var, generator)
        if self.csi == "decoder":
            return ChannelOutput(y=y, h=h, noise_var=noise_var, equalized=False)
        return ChannelOutput(y=mmse_equalize(y, h, noise_var), h=h, noise_var=noise_var, equalized=True)


def _rayleigh_siso(device: str) -> _SionnaRayleigh:
    return _SionnaRayleigh(num_rx=1, num_rx_ant=1, num_tx=1, num_tx_ant=1, device=device)


def mmse_equalize(y: torch.Tensor, h: torch.Tensor, noise_var: torch.Tensor) -> torch.Tensor:
    """Scalar MMSE equaliser ``h* y / (|h|² + N0)`` per symbol.

    Written out rather than taken from ``sionna.phy.mimo.lmmse_equalizer``: for one antenna the
    matrix LMMSE reduces to this one line, and the MIMO block needs covariance matrices per symbol.

    Shapes:
        y, h: ``[B, ...]`` complex; noise_var: ``[B]`` → returns ``[B, ...]``.
    """
    n0 = noise_var.view(-1, *([1] * (y.dim() - 1)))
    return h.conj() * y / (h.abs().square() + n0)


class RicianChannel(RayleighChannel):
    """Rician block fading: ``h = sqrt(K/(K+1)) e^{jφ} + sqrt(1/(K+1)) h_Rayleigh``, ``E|h|² = 1``.

    Sionna has no Rician block, so the diffuse part is Sionna's Rayleigh fading and the line-of-sight
    term is added here. ``K → ∞`` tends to AWGN (``h → e^{jφ}``, a known phase); ``K = 0`` is Rayleigh.

    Args:
        k_factor: power ratio of the LOS to the diffuse part (linear, not dB).
        los_phase: phase ``φ`` of the LOS term in radians.
        coherence, csi: as :class:`RayleighChannel`.
    """

    def __init__(
        self,
        k_factor: float = 4.0,
        los_phase: float = 0.0,
        coherence: int | None = None,
        csi: Csi = "equalize",
    ) -> None:
        super().__init__(coherence=coherence, csi=csi)
        if not k_factor >= 0:
            raise ValueError(f"k_factor must be >= 0, got {k_factor}")
        self.k_factor = float(k_factor)
        self.los_phase = float(los_phase)

    @property
    def fading(self) -> Fading:
        """``2(K+1)|h|²`` noncentral χ² (2 degrees of freedom, noncentrality ``2K``); ``K = ∞``: none."""
        return Fading.rician(self.k_factor, self.coherence)

    def draw_h(self, z: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        diffuse = super().draw_h(z, generator)
        if math.isinf(self.k_factor):
            los_weight, diffuse_weight = 1.0, 0.0
        else:
            los_weight = math.sqrt(self.k_factor / (self.k_factor + 1))
            diffuse_weight = math.sqrt(1 / (self.k_factor + 1))
        los = complex(math.cos(self.los_phase), math.sin(self.los_phase)) * los_weight
        return los + diffuse_weight * diffuse

"""Building blocks of the IA-JSCC transforms: GDN/IGDN, SNR attention (ADJSCC) and FiLM.

References:
    Ballé, Laparra, Simoncelli, "Density modeling of images using a generalized normalization
    transformation", ICLR 2016 (GDN).
    Xu, Ai, Chen, Lin, Wang, "Wireless image transmission using deep source channel coding with
    attention modules", IEEE TCSVT 2021 (ADJSCC: the attention-feature module).
    Perez et al., "FiLM: visual reasoning with a general conditioning layer", AAAI 2018.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _inv_softplus(x: float) -> float:
    return math.log(math.expm1(x))


class GDN(nn.Module):
    """Generalised divisive normalisation ``y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j^2)``.

    ``beta`` and ``gamma`` are stored through a softplus, so they stay positive whatever the
    optimiser does (a plain parameter can go negative and give NaN under the square root) while the
    gradient never vanishes (a squared reparametrisation would freeze the zero-initialised
    off-diagonal terms). ``inverse=True`` gives IGDN, ``y_i = x_i * sqrt(...)``, for the decoder.

    Shapes:
        x: ``[B, C, H, W]`` → same.
    """

    def __init__(self, channels: int, *, inverse: bool = False) -> None:
        super().__init__()
        self.inverse = inverse
        self.beta_raw = nn.Parameter(torch.full((channels,), _inv_softplus(1.0)))
        off = _inv_softplus(1e-3)
        gamma = torch.full((channels, channels), off)
        gamma.fill_diagonal_(_inv_softplus(0.1))
        self.gamma_raw = nn.Parameter(gamma)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        beta = F.softplus(self.beta_raw) + 1e-6
        gamma = F.softplus(self.gamma_raw)
        norm = F.conv2d(x * x, gamma[:, :, None, None], beta)
        return x * torch.sqrt(norm) if self.inverse else x * torch.rsqrt(norm)


class SNRAttention(nn.Module):
    """ADJSCC attention-feature module: pooled features + SNR → MLP → channel-wise sigmoid scale.

    One model then serves every SNR: at low SNR it learns to shift the feature energy to what
    survives the noise (Xu et al. 2021, Fig. 3). The SNR enters in dB scaled to about [0, 1].

    ``extra`` more context values per item (e.g. the fraction of symbols sent, so one model also
    serves every rate) join the SNR at the MLP's input.

    Shapes:
        x: ``[B, C, H, W]``; snr_db: ``[B]`` float; extra: ``[B, extra]`` → ``[B, C, H, W]``.
    """

    def __init__(self, channels: int, hidden: int | None = None, *, extra: int = 0) -> None:
        super().__init__()
        hidden = hidden or max(channels // 4, 8)
        self.extra = extra
        self.mlp = nn.Sequential(
            nn.Linear(channels + 1 + extra, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels)
        )

    def forward(
        self, x: torch.Tensor, snr_db: torch.Tensor, extra: torch.Tensor | None = None
    ) -> torch.Tensor:
        parts = [x.mean(dim=(2, 3)), (snr_db / 20.0)[:, None]]
        if self.extra:
            if extra is None or extra.shape != (x.shape[0], self.extra):
                raise ValueError(f"SNRAttention needs extra context [B, {self.extra}]")
            parts.append(extra.to(x.dtype))
        return x * torch.sigmoid(self.mlp(torch.cat(parts, dim=1)))[:, :, None, None]


class FiLM(nn.Module):
    """Per-position feature modulation ``x * (1 + gamma(c)) + beta(c)`` by a conditioning map.

    Used for the importance map (encoder) and the symbol-count map (encoder and decoder), resized
    to the feature's resolution, so every stage knows what matters and how much will be sent.
    Zero-initialised: at the start the block is the identity.

    Shapes:
        x: ``[B, C, H, W]``; cond: ``[B, Cc, h, w]`` (any h, w; area-resized) → ``[B, C, H, W]``.
    """

    def __init__(self, channels: int, cond_channels: int, hidden: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(cond_channels, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, 2 * channels, 1)
        )
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        if cond.shape[-2:] != x.shape[-2:]:
            cond = F.adaptive_avg_pool2d(cond, x.shape[-2:])
        gamma, beta = self.net(cond).chunk(2, dim=1)
        return x * (1 + gamma) + beta


class ResBlock(nn.Module):
    """Two 3×3 convolutions with a PReLU between them and a skip connection.

    Shapes:
        x: ``[B, C, H, W]`` → same.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.act = nn.PReLU(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.act(self.conv1(x)))


def down_conv(cin: int, cout: int, kernel: int = 5) -> nn.Conv2d:
    """A stride-2 convolution halving H and W (even inputs)."""
    return nn.Conv2d(cin, cout, kernel, stride=2, padding=kernel // 2)

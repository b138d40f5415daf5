"""Deep JSCC: the field's CNN baseline, with ADJSCC's SNR attention and one model for every CBR.

The architecture of Bourtsoulatze, Kurka and Gündüz (IEEE TCCN 2019): five 5×5 convolutions in the
encoder (two of stride 2, so one channel position covers a 4×4-pixel *cell*), their transposes in
the decoder, PReLU activations, a per-image power normalisation and a sigmoid output. From ADJSCC
(Xu et al., IEEE TCSVT 2021) it takes GDN/IGDN and an attention-feature module after every layer,
so that one model serves every SNR::

    x ─► [conv5 s2 ─ GDN ─ PReLU ─ AF] ─► [conv5 s2 ─ …] ─► [conv5 s1 ─ …] ×2 ─► conv5 s1 ─► 2·k_max channels
      ─► complex, keep the first k per cell ─► × sqrt(count / energy) (unit power) ─► z
    y (unsent zeroed) + k/k_max ─► [convT5 s1 ─ IGDN ─ PReLU ─ AF] ×3 ─► [convT5 s2 ─ …]
      ─► convT5 s2 ─► sigmoid ─► x̂

The published models fix the CBR by the width of the last layer. Here the encoder emits ``k_max``
complex symbols per cell in a learned order of importance and a cell sends its first ``k``, with
``k`` from the same uniform allocation rule as IA-JSCC (:func:`mllmsc.codec.allocate_uniform`;
the receiver knows it from the budget, so no side information). The attention modules see the SNR
and the mean ``k/k_max``, and the model is trained with a random CBR per batch, so one set of
weights serves every CBR in ``(0, k_max/(3·cell²)]`` (up to 1/6 with the defaults). The power
normalisation needs no header: the decoder is trained on normalised symbols, as in the paper.

The model speaks the codec protocol of :class:`~mllmsc.codec.IAJSCC` (``cell``, ``k_max``,
``header_symbols``, :meth:`encode`, :meth:`receive`, :meth:`forward`), so the allocator, the
training loop's evaluation and :class:`~mllmsc.methods.jscc.JSCCMethod` serve both.

References:
    Bourtsoulatze, Kurka, Gündüz, "Deep joint source-channel coding for wireless image
    transmission", IEEE TCCN 2019.
    Xu, Ai, Chen, Lin, Wang, "Wireless image transmission using deep source channel coding with
    attention modules", IEEE TCSVT 2021.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mllmsc.channel import power_scale
from mllmsc.channel.base import snr_vector
from mllmsc.codec.layers import GDN, SNRAttention
from mllmsc.codec.model import CodecOutput, Encoded, sent_mask
from mllmsc.config import ConfigError
from mllmsc.pretrained import PretrainedMixin
from mllmsc.types import ChannelOutput

# Two stride-2 layers: one channel position covers a 4×4-pixel cell.
CELL = 4


@dataclass(frozen=True)
class DeepJSCCConfig:
    """Hyper-parameters of :class:`DeepJSCC`; saved as ``config.json`` beside the weights.

    Attributes:
        width: channels of every hidden layer (16/32 in Bourtsoulatze et al., 256 in ADJSCC).
        kernel: kernel size of every (transposed) convolution.
        k_max: complex symbols a 4×4 cell can carry at most (CBR up to ``k_max / 48``).
        attention_hidden: hidden width of the attention modules' MLPs.
    """

    width: int = 64
    kernel: int = 5
    k_max: int = 8
    attention_hidden: int = 32

    def __post_init__(self) -> None:
        if self.width < 1 or self.attention_hidden < 1:
            raise ConfigError("width and attention_hidden must be positive")
        if self.kernel < 1 or self.kernel % 2 == 0:
            raise ConfigError(f"kernel must be odd and positive, got {self.kernel}")
        if not 1 <= self.k_max <= 3 * CELL * CELL // 2:
            raise ConfigError(f"k_max must lie in [1, {3 * CELL * CELL // 2}], got {self.k_max}")


class _Stage(nn.Module):
    """(Transposed) convolution ─ GDN/IGDN ─ PReLU ─ attention on (SNR, rate).

    Shapes:
        x ``[B, Cin, H, W]``, context ``[B, 2]`` → ``[B, Cout, H·s, W·s]`` (s = 1/stride, or stride
        for a transposed stage).
    """

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, *, transposed: bool, hidden: int):
        super().__init__()
        pad = kernel // 2
        if transposed:
            self.conv = nn.ConvTranspose2d(cin, cout, kernel, stride, pad, output_padding=stride - 1)
        else:
            self.conv = nn.Conv2d(cin, cout, kernel, stride, pad)
        self.norm = GDN(cout, inverse=transposed)
        self.act = nn.PReLU(cout)
        self.attention = SNRAttention(cout, hidden, extra=1)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        return self.attention(self.act(self.norm(self.conv(x))), context[:, 0], context[:, 1:])


class DeepJSCC(PretrainedMixin, nn.Module):
    """Deep JSCC (Bourtsoulatze et al. 2019) with ADJSCC attention, rate-adaptive by truncation.

    Shapes:
        x ``[B,3,H,W]`` in [0, 1]; k ``[B,1,ceil(H/4),ceil(W/4)]`` int64 (symbols per cell);
        snr_db float or ``[B]``; z, y complex64 ``[B,k_max,ceil(H/4),ceil(W/4)]``.
    """

    model_name = "deep-jscc"
    config_class = DeepJSCCConfig
    cell = CELL
    header_symbols = 0  # the decoder is trained on normalised symbols: no gain to send

    def __init__(self, config: DeepJSCCConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or DeepJSCCConfig()
        w, ks, h = config.width, config.kernel, config.attention_hidden
        self.k_max = config.k_max
        self.encoder = nn.ModuleList(
            [
                _Stage(3, w, ks, 2, transposed=False, hidden=h),
                _Stage(w, w, ks, 2, transposed=False, hidden=h),
                _Stage(w, w, ks, 1, transposed=False, hidden=h),
                _Stage(w, w, ks, 1, transposed=False, hidden=h),
            ]
        )
        self.to_symbols = nn.Conv2d(w, 2 * config.k_max, ks, padding=ks // 2)
        # The decoder also reads k/k_max per cell: which symbols are zeros because they were not sent.
        self.decoder = nn.ModuleList(
            [
                _Stage(2 * config.k_max + 1, w, ks, 1, transposed=True, hidden=h),
                _Stage(w, w, ks, 1, transposed=True, hidden=h),
                _Stage(w, w, ks, 1, transposed=True, hidden=h),
                _Stage(w, w, ks, 2, transposed=True, hidden=h),
            ]
        )
        self.to_image = nn.ConvTranspose2d(w, 3, ks, 2, ks // 2, output_padding=1)

    def grid(self, height: int, width: int) -> tuple[int, int]:
        """The cell grid ``(Hc, Wc)`` of an ``height × width`` image."""
        return -(-height // CELL), -(-width // CELL)

    def _context(self, k: torch.Tensor, snr_db: float | torch.Tensor, batch: int) -> torch.Tensor:
        """``[B, 2]``: the SNR in dB and the mean fraction of symbols sent."""
        snr = snr_vector(snr_db, batch, k.device)
        rate = k.float().flatten(1).mean(1) / self.k_max
        return torch.stack([snr, rate], dim=1)

    def _check_k(self, k: torch.Tensor, grid: tuple[int, int]) -> None:
        if k.dim() != 4 or k.shape[1] != 1 or tuple(k.shape[-2:]) != grid:
            raise ValueError(f"k must have shape [B, 1, {grid[0]}, {grid[1]}], got {tuple(k.shape)}")
        if k.numel() and (int(k.min()) < 0 or int(k.max()) > self.k_max):
            raise ValueError(f"k must lie in [0, {self.k_max}]")

    def encode(
        self,
        x: torch.Tensor,
        k: torch.Tensor,
        snr_db: float | torch.Tensor,
        *,
        importance: torch.Tensor | None = None,
    ) -> Encoded:
        """Image → unit-power complex symbols and the sent-mask (``importance`` is ignored).

        Shapes:
            x ``[B,3,H,W]``, k ``[B,1,Hc,Wc]`` → z complex64 ``[B,k_max,Hc,Wc]``, mask bool same,
            gain ``[B]`` (ones: nothing to undo at the receiver).
        """
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"x must have shape [B, 3, H, W], got {tuple(x.shape)}")
        b, _, height, width = x.shape
        self._check_k(k, self.grid(height, width))
        context = self._context(k, snr_db, b)
        ph, pw = (-height) % CELL, (-width) % CELL
        h = F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x
        for stage in self.encoder:
            h = stage(h, context)
        s = self.to_symbols(h).float()
        mask = sent_mask(k, self.k_max)
        z = torch.where(mask, torch.complex(s[:, 0::2], s[:, 1::2]), torch.zeros((), dtype=torch.complex64))
        z = z * power_scale(z, mask).view(-1, 1, 1, 1)
        return Encoded(z, mask, torch.ones(b, device=x.device))

    def decode(
        self,
        y: torch.Tensor,
        k: torch.Tensor,
        snr_db: float | torch.Tensor,
        *,
        size: tuple[int, int] | None = None,
    ) -> torch.Tensor:
        """Received (equalised) symbols → image; the unsent symbols are zeroed here.

        Shapes:
            y complex ``[B,k_max,Hc,Wc]`` → ``[B,3,H,W]`` in [0, 1].
        """
        b, _, hc, wc = y.shape
        self._check_k(k, (hc, wc))
        mask = sent_mask(k, self.k_max)
        y = torch.where(mask, y, torch.zeros((), dtype=y.dtype, device=y.device))
        r = torch.stack([y.real, y.imag], dim=2).flatten(1, 2).float()  # [B, 2·k_max, Hc, Wc]
        h = torch.cat([r, k.float() / self.k_max], dim=1)
        context = self._context(k, snr_db, b)
        for stage in self.decoder:
            h = stage(h, context)
        x_hat = torch.sigmoid(self.to_image(h))
        return x_hat[..., : size[0], : size[1]] if size is not None else x_hat

    def receive(
        self,
        out: ChannelOutput,
        k: torch.Tensor,
        snr_db: float | torch.Tensor,
        *,
        gain: torch.Tensor | None = None,
        size: tuple[int, int] | None = None,
    ) -> torch.Tensor:
        """:meth:`decode` a channel's output (``gain`` is accepted for the codec protocol and unused).

        On a fading channel the decoder reads the MMSE-equalised symbols and the average SNR, as
        ADJSCC does.

        Raises:
            ValueError: the channel hands raw ``y`` and ``h`` (``csi="decoder"``); build it with
                ``csi="equalize"``.
        """
        if out.h is not None and not out.equalized:
            raise ValueError("Deep JSCC decodes equalised symbols: build the channel with csi='equalize'")
        return self.decode(out.y, k, snr_db, size=size)

    def forward(
        self,
        x: torch.Tensor,
        k: torch.Tensor,
        snr_db: float | torch.Tensor,
        channel: nn.Module,
        *,
        importance: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> CodecOutput:
        """Encode, send through ``channel`` and decode (the training and evaluation pass).

        Shapes:
            x ``[B,3,H,W]``, k ``[B,1,Hc,Wc]`` → ``CodecOutput`` (x_hat ``[B,3,H,W]``).
        """
        z, mask, gain = self.encode(x, k, snr_db)
        out = channel(z, snr_db, generator=generator)
        x_hat = self.receive(out, k, snr_db, size=tuple(x.shape[-2:]))
        y = torch.where(mask, out.y, torch.zeros((), dtype=out.y.dtype, device=out.y.device))
        return CodecOutput(x_hat=x_hat, z=z, y=y, mask=mask, gain=gain, channel=out)


__all__ = ["CELL", "DeepJSCC", "DeepJSCCConfig"]

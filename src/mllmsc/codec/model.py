"""IA-JSCC: the importance-aware, SNR- and rate-adaptive deep JSCC codec of MLLM-SC.

The codec is a *learned residual on top of an optimal linear analog code*. Each 16×16 cell is
projected on the Karhunen–Loève basis of 16×16 RGB patches (fitted once on the training photos, see
:meth:`LinearTransform.fit`), components are scaled by ``λ^(-1/4)`` (SoftCast's MSE-optimal power
allocation) and the receiver inverts them with the per-component LMMSE estimate. That linear code
alone, with no training, gives 28.0 dB on Kodak at AWGN 10 dB, CBR 1/16; a plain CNN deep JSCC needs
many GPU-hours to get there, and on this project's 2 CPU cores it reached 22 dB after an hour. The
neural parts start at zero and learn what the linear code cannot do: an importance-, rate- and
SNR-conditioned residual in the encoder (the dual path) and a refinement network in the decoder.

Because the KLT components are ordered by variance, "a cell sends its first ``k`` symbols" is a
natural rate adaptation (the first symbols carry the most energy), so one model serves every budget
and every importance allocation.

References:
    Zhang, Sun, Guo, Chen, Ai, Gündüz, "MLLM-SC: multimodal large language model enabled semantic
    communication", arXiv 2507.04621 (2025): importance-aware encoder, dual path, SNR-adaptive decoder.
    Jakubczak, Katabi, "A cross-layer design for scalable mobile video", MobiCom 2011 (SoftCast:
    linear analog coding, ``λ^(-1/4)`` power allocation, LMMSE decoding).
    Bourtsoulatze, Kurka, Gündüz, "Deep joint source-channel coding for wireless image
    transmission", IEEE TCCN 2019 (Deep JSCC).
    Xu, Ai, Chen, Lin, Wang, "Wireless image transmission using deep source channel coding with
    attention modules", IEEE TCSVT 2021 (ADJSCC: SNR attention modules, one model for all SNRs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from mllmsc.channel import power_scale
from mllmsc.channel.base import noise_variance, snr_vector
from mllmsc.codec.allocation import side_info_symbols
from mllmsc.codec.layers import GDN, FiLM, ResBlock, SNRAttention, down_conv
from mllmsc.codec.tiling import tiles
from mllmsc.config import ConfigError
from mllmsc.pretrained import PretrainedMixin
from mllmsc.types import ChannelOutput

# The power-normalisation gain is sent as log2(gain) on a uniform grid over [-16, 16) octaves.
GAIN_OCTAVES = 32.0


@dataclass(frozen=True)
class IAJSCCConfig:
    """Hyper-parameters of :class:`IAJSCC`; saved as ``config.json`` beside the weights.

    Attributes:
        channels: widths of the stride-2 stages of the encoder's residual branch; ``len(channels)``
            stages make the cell side ``2 ** len(channels)`` pixels (4 stages → 16×16-pixel cells).
        k_max: complex symbols a cell can carry at most; ``2·k_max`` real KLT components, at most
            ``3·cell²``.
        kernel: kernel size of the residual branch's stride-2 convolutions.
        res_blocks: residual blocks at the cell resolution in the encoder's residual branch.
        hf_blocks: extra residual blocks in the high-fidelity head (the light head has none).
        film_hidden: hidden width of the FiLM conditioning networks.
        refine_width: channels of the decoder's refinement network (it runs at 1/4 resolution).
        refine_blocks: residual blocks of the refinement network.
        gain_bits: bits of the per-image power-normalisation gain the receiver needs to undo it
            (the header, sent like the side information; see :attr:`IAJSCC.header_symbols`).
    """

    channels: tuple[int, ...] = (32, 64, 96, 128)
    k_max: int = 192
    kernel: int = 3
    res_blocks: int = 2
    hf_blocks: int = 1
    film_hidden: int = 32
    refine_width: int = 64
    refine_blocks: int = 4
    gain_bits: int = 12

    @property
    def cell(self) -> int:
        return 2 ** len(self.channels)

    @property
    def header_symbols(self) -> int:
        """Channel symbols of the gain header per image (QPSK rate 1/3, like the side information)."""
        return side_info_symbols(self.gain_bits)

    def __post_init__(self) -> None:
        if not self.channels or min(self.channels) < 1:
            raise ConfigError("channels: need at least one positive stage width")
        if self.k_max < 1:
            raise ConfigError("k_max: must be positive")
        if 2 * self.k_max > 3 * self.cell**2:
            raise ConfigError(
                f"k_max: a {self.cell}-pixel cell has {3 * self.cell**2} real components, "
                f"so k_max can be at most {3 * self.cell**2 // 2}, got {self.k_max}"
            )
        if self.refine_width < 1 or self.refine_blocks < 0:
            raise ConfigError("refine_width must be positive and refine_blocks >= 0")
        if not 4 <= self.gain_bits <= 24:
            raise ConfigError(f"gain_bits: must lie in [4, 24], got {self.gain_bits}")


class Encoded(NamedTuple):
    """What the transmitter sends for one batch.

    Attributes:
        z: channel input, complex64 ``[B, k_max, Hc, Wc]``, unit power over the sent symbols.
        mask: sent symbols, bool ``[B, k_max, Hc, Wc]``.
        gain: the power-normalisation gain as the receiver gets it from the header (quantised to
            ``gain_bits``), ``[B]`` float.
    """

    z: torch.Tensor
    mask: torch.Tensor
    gain: torch.Tensor


@dataclass(frozen=True)
class CodecOutput:
    """What one pass encoder → channel → decoder gives.

    Attributes:
        x_hat: reconstruction in [0, 1], ``[B, 3, H, W]``.
        z: channel input, complex64 ``[B, k_max, Hc, Wc]``, unit power over the sent symbols.
        y: channel output with the unsent symbols zeroed, same shape.
        mask: sent symbols, bool ``[B, k_max, Hc, Wc]``.
        gain: the header's power-normalisation gain, ``[B]``.
        channel: the channel's raw output.
    """

    x_hat: torch.Tensor
    z: torch.Tensor
    y: torch.Tensor
    mask: torch.Tensor
    gain: torch.Tensor
    channel: ChannelOutput


def sent_mask(k: torch.Tensor, k_max: int) -> torch.Tensor:
    """Which symbols each cell sends: the first ``k`` of its ``k_max``.

    Shapes:
        k: ``[B, 1, Hc, Wc]`` integer → bool ``[B, k_max, Hc, Wc]``.
    """
    index = torch.arange(k_max, device=k.device).view(1, k_max, 1, 1)
    return index < k


def quantize_gain(gain: torch.Tensor, bits: int) -> torch.Tensor:
    """The header: ``log2(gain)`` on a uniform ``bits``-bit grid over [-16, 16) octaves.

    Shapes:
        gain: ``[B]`` positive → ``[B]`` int64 codes in ``[0, 2**bits)``.
    """
    levels = 2**bits
    code = torch.round((torch.log2(gain.detach().double()) + GAIN_OCTAVES / 2) * levels / GAIN_OCTAVES)
    return code.clamp(0, levels - 1).long()


def dequantize_gain(code: torch.Tensor, bits: int) -> torch.Tensor:
    """Inverse of :func:`quantize_gain` (the receiver's side). ``[B]`` int64 → ``[B]`` float32."""
    return torch.exp2(code.double() * GAIN_OCTAVES / 2**bits - GAIN_OCTAVES / 2).float()


def _dct_matrix(n: int) -> torch.Tensor:
    """Orthonormal DCT-II matrix, rows = frequencies. ``[n, n]`` float64."""
    i = torch.arange(n, dtype=torch.float64)
    d = torch.cos(math.pi * (i[None, :] + 0.5) * i[:, None] / n) * math.sqrt(2 / n)
    d[0] /= math.sqrt(2)
    return d


class LinearTransform(nn.Module):
    """The linear analog code: per-cell KLT analysis, ``λ^(-1/4)`` power allocation, LMMSE synthesis.

    Until :meth:`fit` sees training patches it holds an orthonormal DCT basis in an opponent colour
    space (luminance first) with a ``1/(1+u²+v²)`` variance prior, so an untrained model is already
    a (weaker) SoftCast.

    Tensors (saved with the model): ``analysis`` and ``synthesis`` ``[2·k_max, 3, cell, cell]``
    (learned, start equal: an orthonormal basis), ``log_gain`` ``[2·k_max]`` (learned power
    allocation), buffers ``mean`` ``[3, cell, cell]`` (the mean patch) and ``log_var``
    ``[2·k_max]`` (component variances λ, the LMMSE prior).
    """

    def __init__(self, cell: int, components: int) -> None:
        super().__init__()
        self.cell, self.components = cell, components
        basis, var = self._dct_basis(cell, components)
        self.analysis = nn.Parameter(basis.clone())
        self.synthesis = nn.Parameter(basis.clone())
        self.register_buffer("mean", torch.full((3, cell, cell), 0.5))
        self.register_buffer("log_var", var.log())
        self.log_gain = nn.Parameter(-0.25 * var.log())

    @staticmethod
    def _dct_basis(cell: int, components: int) -> tuple[torch.Tensor, torch.Tensor]:
        d = _dct_matrix(cell)
        colour = torch.tensor([[1, 1, 1], [1, 0, -1], [1, -2, 1]], dtype=torch.float64) / torch.tensor(
            [[math.sqrt(3)], [math.sqrt(2)], [math.sqrt(6)]], dtype=torch.float64
        )
        u = torch.arange(cell, dtype=torch.float64)
        prior = torch.tensor([0.02, 0.002, 0.002], dtype=torch.float64)[:, None, None] / (
            1 + u[None, :, None] ** 2 + u[None, None, :] ** 2
        )
        order = torch.sort(-prior.flatten(), stable=True).indices[:components]
        c, rest = order // (cell * cell), order % (cell * cell)
        fu, fv = rest // cell, rest % cell
        basis = colour[c][:, :, None, None] * (d[fu][:, None, :, None] * d[fv][:, None, None, :])
        return basis.float(), prior.flatten()[order].float()

    @torch.no_grad()
    def fit(self, patches: torch.Tensor) -> None:
        """Set the basis, mean and variances to the KLT (PCA) of training patches.

        Args:
            patches: ``[N, 3, cell, cell]`` in [0, 1], N well above ``3·cell²`` (e.g. 50 000).
        """
        n = patches.shape[0]
        flat = patches.reshape(n, -1).double()
        mean = flat.mean(0)
        cov = (flat - mean).T @ (flat - mean) / max(n - 1, 1)
        var, vec = torch.linalg.eigh(cov)
        var, vec = var.flip(0)[: self.components], vec.flip(1)[:, : self.components]
        # A deterministic sign: each basis vector's largest entry is positive.
        sign = torch.sign(vec.gather(0, vec.abs().argmax(0, keepdim=True)))
        vec = vec * sign
        var = var.clamp_min(1e-6)
        basis = vec.T.reshape(self.components, 3, self.cell, self.cell).float()
        self.analysis.copy_(basis)
        self.synthesis.copy_(basis)
        self.mean.copy_(mean.view(3, self.cell, self.cell).float())
        self.log_var.copy_(var.log().float())
        self.log_gain.copy_(-0.25 * var.log().float())

    def cell_scale(self, k: torch.Tensor) -> torch.Tensor:
        """Amplitude per cell that makes a cell's *expected* energy proportional to its symbols.

        With one gain per image, a cell that gets 4× the symbols would only add weak, high-order
        components at low power, and an ROI would gain little (measured: +0.5 dB at 10 dB). This
        factor, ``sqrt(k / E(k))`` with ``E(k)`` the prior energy of the first ``k`` symbols, gives
        each cell the energy of its share of the budget, as if it were sent alone at its own CBR.
        Both ends compute it from ``k`` and the model, so it costs no side information; for a
        uniform allocation it is one constant, absorbed by the per-image gain.

        Shapes:
            k: ``[B, 1, Hc, Wc]`` integer → ``[B, 1, Hc, Wc]`` float (0 where ``k = 0``).
        """
        energy = (2 * self.log_gain + self.log_var).exp().view(-1, 2).sum(1)  # per complex symbol
        cumulative = F.pad(energy.cumsum(0), (1, 0))  # E(0) = 0 ... E(k_max)
        kk = k.long()
        e = cumulative[kk.clamp_min(0)]
        return torch.where(kk > 0, (kk.to(e.dtype) / e.clamp_min(1e-12)).sqrt(), torch.zeros_like(e))

    def analyse(self, x: torch.Tensor) -> torch.Tensor:
        """Image → KLT coefficients per cell. ``[B, 3, H, W]`` (whole cells) → ``[B, 2k, Hc, Wc]``."""
        bias = -(self.analysis * self.mean).flatten(1).sum(1)
        return F.conv2d(x, self.analysis, bias, stride=self.cell)

    def synthesise(self, c: torch.Tensor) -> torch.Tensor:
        """KLT coefficients → image. ``[B, 2k, Hc, Wc]`` → ``[B, 3, cell·Hc, cell·Wc]``."""
        x = F.conv_transpose2d(c, self.synthesis, stride=self.cell)
        return x + self.mean.repeat(1, c.shape[-2], c.shape[-1])


class Encoder(nn.Module):
    """The learned residual of the analysis: importance/rate FiLM, SNR attention, dual-path head.

    Both heads end in zero-initialised convolutions, so a new model sends the linear code exactly;
    training moves the symbols away from it only where that lowers the (importance-weighted) error.

    Shapes:
        x: ``[B, 3, H, W]``, importance: ``[B, 1, H, W]``, k_frac: ``[B, 1, Hc, Wc]`` (k / k_max),
        snr_db: ``[B]`` → real ``[B, 2·k_max, Hc, Wc]`` in KLT component order.
    """

    def __init__(self, cfg: IAJSCCConfig) -> None:
        super().__init__()
        widths = (4, *cfg.channels)  # RGB + importance map as input channels
        self.downs = nn.ModuleList(
            down_conv(a, b, cfg.kernel) for a, b in zip(widths[:-1], widths[1:], strict=True)
        )
        self.gdns = nn.ModuleList(GDN(c) for c in cfg.channels)
        self.films = nn.ModuleList(FiLM(c, 2, cfg.film_hidden) for c in cfg.channels)
        self.snr = nn.ModuleList(SNRAttention(c) for c in cfg.channels)
        c = cfg.channels[-1]
        self.body = nn.Sequential(*(ResBlock(c) for _ in range(cfg.res_blocks)))
        self.body_snr = SNRAttention(c)
        out = 2 * cfg.k_max
        # High-fidelity head: more capacity for the important cells ...
        self.hf_head = nn.Sequential(*(ResBlock(c) for _ in range(cfg.hf_blocks)), nn.Conv2d(c, out, 1))
        # ... and a light head for background cells; the gate mixes them per cell.
        self.lf_head = nn.Conv2d(c, out, 1)
        self.gate = nn.Conv2d(2, 1, 1)
        for head in (self.hf_head[-1], self.lf_head):
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    def forward(
        self,
        x: torch.Tensor,
        importance: torch.Tensor,
        k_frac: torch.Tensor,
        snr_db: torch.Tensor,
    ) -> torch.Tensor:
        h = torch.cat([x - 0.5, importance], dim=1)
        for down, gdn, film, snr in zip(self.downs, self.gdns, self.films, self.snr, strict=True):
            h = gdn(down(h))
            size = h.shape[-2:]
            scale = size[0] // k_frac.shape[-2]
            cond = torch.cat([F.adaptive_avg_pool2d(importance, size), _upsample(k_frac, scale)], dim=1)
            h = snr(film(h, cond), snr_db)
        h = self.body_snr(self.body(h), snr_db)
        cell_importance = F.adaptive_avg_pool2d(importance, h.shape[-2:])
        g = torch.sigmoid(self.gate(torch.cat([cell_importance, k_frac], dim=1)))
        return g * self.hf_head(h) + (1 - g) * self.lf_head(h)


class Refiner(nn.Module):
    """The decoder's learned residual on the LMMSE image: removes cell edges, restores texture.

    Runs on the image folded to 1/4 resolution (pixel unshuffle: each position sees a 4×4 block,
    so a few 3×3 layers span the 16-pixel cell edges cheaply), conditioned on how many symbols each
    cell sent (FiLM) and on the SNR (ADJSCC attention). The last convolution starts at zero.

    Shapes:
        x_lin: ``[B, 3, H, W]``; k_frac: ``[B, 1, Hc, Wc]``; snr_db: ``[B]`` → residual ``[B, 3, H, W]``.
    """

    def __init__(self, cfg: IAJSCCConfig) -> None:
        super().__init__()
        self.fold = min(4, cfg.cell)
        self.cell = cfg.cell
        c, w = 3 * self.fold**2, cfg.refine_width
        self.head = nn.Conv2d(c + 1, w, 3, padding=1)
        self.blocks = nn.ModuleList(ResBlock(w) for _ in range(cfg.refine_blocks))
        self.films = nn.ModuleList(FiLM(w, 1, cfg.film_hidden) for _ in range(cfg.refine_blocks))
        self.snr = nn.ModuleList(SNRAttention(w) for _ in range(cfg.refine_blocks))
        self.tail = nn.Conv2d(w, c, 3, padding=1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, x_lin: torch.Tensor, k_frac: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
        u = F.pixel_unshuffle(x_lin - 0.5, self.fold)
        kk = _upsample(k_frac, self.cell // self.fold)
        h = self.head(torch.cat([u, kk], dim=1))
        for block, film, snr in zip(self.blocks, self.films, self.snr, strict=True):
            h = snr(film(block(h), kk), snr_db)
        return F.pixel_shuffle(self.tail(h), self.fold)


def _upsample(t: torch.Tensor, scale: int) -> torch.Tensor:
    """Nearest-neighbour up-sampling by an integer factor (a cell map to a feature grid)."""
    return t.repeat_interleave(scale, -2).repeat_interleave(scale, -1) if scale > 1 else t


class IAJSCC(PretrainedMixin, nn.Module):
    """Importance-aware deep JSCC with per-cell rate adaptation and SNR adaptation.

    The image is cut into cells of ``cell × cell`` pixels (16 by default); cell ``i`` sends the
    first ``k_i`` of its ``k_max`` complex symbols (symbol ``j`` carries KLT components ``2j`` and
    ``2j+1``, ordered by variance) with an energy proportional to ``k_i`` (see
    :meth:`LinearTransform.cell_scale`: the power follows the symbols). The uniform allocation of
    the same model is the Deep JSCC / ADJSCC baseline::

        x [B,3,H,W] ─pad─► KLT analysis per cell ─────────────────────────────┐ c [B,2k_max,Hc,Wc]
        x, m [B,1,H,W] ─► 4 × (stride-2 conv + GDN, FiLM(m, k), SNR att.) ─┬─ HF head ─┐ gate(m,k) (+)
                                                                           └─ light ───┘
        (+) × λ^(-1/4) (learned) × cell scale(k) ─► complex, keep first k per cell ─► × gain (unit power) ─► z
        z ─► channel ─► y ─► LMMSE per component (λ, gain from the header, SNR, CSI)
          ─► KLT synthesis ─► x_lin ─► + refiner(x_lin, k, SNR) ─crop─► x̂

    The gain that normalises the power is per image; the receiver needs it to undo the
    normalisation, so it travels as a ``gain_bits`` header (:attr:`header_symbols` channel symbols,
    counted in the payload by :mod:`mllmsc.codec.allocation`'s ``reserved``). Images whose sides
    are not multiples of ``cell`` are padded (replicate) and cropped back; the symbol budget is
    always counted on the original ``H × W``.

    Large images: when the cell grid has more than :attr:`tile_cells` cells on a side, the
    analysis + encoder and the refiner run tile by tile (:mod:`mllmsc.codec.tiling`; each tile
    reads a halo of :attr:`encoder_halo` / :attr:`refiner_halo` cells, their receptive fields), so
    their memory is bounded by the tile (at 4 Mpx the encoder adds 0.25 GB to the peak; untiled
    it added 0.36 GB at 2 Mpx already, and that grew with the image).
    The power gain, the header and the per-cell LMMSE stay per image, so the symbols, the mask and
    the budget are those of the untiled computation. The one difference is SNR attention, which
    pools over the tile instead of the image: on a 1536×1536 Kodak upscale (96×96 cells, AWGN
    10 dB, CBR 1/16) the tiled output is 60 dB PSNR from the untiled one (max pixel difference
    0.007) and its PSNR to the original 0.02 dB higher (33.57 against 33.55 dB); the gain header
    is the same. Images that fit in one tile (Kodak's 48×32 cells) take the whole-image path,
    bit for bit as before tiling existed.

    Saved and loaded with ``save_pretrained`` / ``from_pretrained`` (:mod:`mllmsc.pretrained`).

    Shapes:
        x: ``[B, 3, H, W]`` float in [0, 1]; importance: ``[B, 1, H, W]`` in [0, 1];
        k: ``[B, 1, Hc, Wc]`` integer in [0, k_max], ``Hc = ceil(H / cell)``;
        snr_db: float or ``[B]``; z, y: complex64 ``[B, k_max, Hc, Wc]``.
    """

    model_name = "ia-jscc"
    config_class = IAJSCCConfig

    #: Side of the tiles, in cells, in which the encoder and the refiner run on an image with more
    #: cells than that on a side (64 cells = 1024 px); ``None`` never tiles. A run-time setting,
    #: not part of the config: the weights do not depend on it.
    tile_cells: int | None = 64

    def __init__(self, config: IAJSCCConfig | None = None) -> None:
        super().__init__()
        self.config = config or IAJSCCConfig()
        self.transform = LinearTransform(self.config.cell, 2 * self.config.k_max)
        self.encoder = Encoder(self.config)
        self.decoder = Refiner(self.config)

    @property
    def cell(self) -> int:
        return self.config.cell

    @property
    def k_max(self) -> int:
        return self.config.k_max

    @property
    def header_symbols(self) -> int:
        """Channel symbols of the gain header per image (sent like the side information)."""
        return self.config.header_symbols

    @property
    def encoder_halo(self) -> int:
        """Receptive-field radius of :meth:`LinearTransform.analyse` + :class:`Encoder`, in cells.

        The stride-2 stages reach ``kernel // 2 · (cell − 1)`` pixels beyond a cell (at most one cell
        further); every 3×3 convolution at the cell resolution (two per residual block of the body
        and of the high-fidelity head) one cell more. 7 cells for the shipped config.
        """
        cfg = self.config
        stages = math.ceil(cfg.kernel // 2 * (self.cell - 1) / self.cell)
        return stages + 2 * (cfg.res_blocks + cfg.hf_blocks)

    @property
    def refiner_halo(self) -> int:
        """Receptive-field radius of the :class:`Refiner`, in cells: its ``2 + 2·refine_blocks``
        3×3 convolutions at ``1/fold`` resolution (3 cells for the shipped config)."""
        convs = 2 + 2 * self.config.refine_blocks
        return math.ceil(convs * self.decoder.fold / self.cell)

    def _tiled(self, grid: tuple[int, int]) -> bool:
        return self.tile_cells is not None and max(grid) > self.tile_cells

    def grid(self, height: int, width: int) -> tuple[int, int]:
        """The cell grid ``(Hc, Wc)`` of an ``height × width`` image."""
        return math.ceil(height / self.cell), math.ceil(width / self.cell)

    def _check_k(self, k: torch.Tensor, grid: tuple[int, int]) -> None:
        if k.dim() != 4 or k.shape[1] != 1 or tuple(k.shape[-2:]) != grid:
            raise ValueError(f"k must have shape [B, 1, {grid[0]}, {grid[1]}], got {tuple(k.shape)}")
        if k.numel() and (int(k.min()) < 0 or int(k.max()) > self.k_max):
            raise ValueError(f"k must lie in [0, {self.k_max}]")

    def _pad(self, t: torch.Tensor) -> torch.Tensor:
        h, w = t.shape[-2:]
        ph, pw = (-h) % self.cell, (-w) % self.cell
        if ph or pw:
            t = F.pad(t, (0, pw, 0, ph), mode="replicate")
        return t

    def fit_transform(self, patches: torch.Tensor) -> None:
        """Fit the linear code to training patches ``[N, 3, cell, cell]`` (:meth:`LinearTransform.fit`)."""
        self.transform.fit(patches)

    def encode(
        self,
        x: torch.Tensor,
        k: torch.Tensor,
        snr_db: float | torch.Tensor,
        *,
        importance: torch.Tensor | None = None,
    ) -> Encoded:
        """Image → power-normalised complex symbols, the sent-mask and the header's gain.

        Args:
            x: images in [0, 1].
            k: symbols per cell (the allocation).
            snr_db: the SNR the encoder adapts to.
            importance: importance map; ``None`` means all ones (uniform guidance).

        Shapes:
            x ``[B,3,H,W]``, k ``[B,1,Hc,Wc]`` → z complex64 ``[B,k_max,Hc,Wc]``, mask bool same,
            gain ``[B]``.
        """
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"x must have shape [B, 3, H, W], got {tuple(x.shape)}")
        b, _, height, width = x.shape
        self._check_k(k, self.grid(height, width))
        if importance is None:
            importance = x.new_ones(b, 1, height, width)
        elif importance.shape != (b, 1, height, width):
            raise ValueError(f"importance must have shape [{b}, 1, {height}, {width}]")
        snr = snr_vector(snr_db, b, x.device)
        k_frac = k.to(x.dtype) / self.k_max
        xp, mp = self._pad(x), self._pad(importance.to(x.dtype))
        if self._tiled(tuple(k.shape[-2:])):
            c = self._encode_tiles(xp, mp, k_frac, snr)
        else:
            c = self.transform.analyse(xp)
            c = c + self.encoder(xp, mp, k_frac, snr)
        del xp, mp
        s = (c * self.transform.log_gain.exp()[None, :, None, None] * self.transform.cell_scale(k)).float()
        mask = sent_mask(k, self.k_max)
        z = torch.where(mask, torch.complex(s[:, 0::2], s[:, 1::2]), torch.zeros((), dtype=torch.complex64))
        gain = power_scale(z, mask)
        z = z * gain.view(-1, 1, 1, 1)
        bits = self.config.gain_bits
        received = dequantize_gain(quantize_gain(gain, bits), bits).to(gain.device)
        # The receiver gets the quantised gain; the ratio is a constant for the gradient.
        return Encoded(z, mask, gain * (received / gain).detach())

    def decode(
        self,
        y: torch.Tensor,
        k: torch.Tensor,
        snr_db: float | torch.Tensor,
        *,
        gain: torch.Tensor,
        size: tuple[int, int] | None = None,
        equalized_h: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Received symbols → image.

        Args:
            y: equalised channel output (AWGN, or a fading channel with ``csi="equalize"``); the
                unsent symbols are ignored (zeroed here, the receiver knows ``k``).
            k: symbols per cell, as decoded from the side information.
            snr_db: the SNR the decoder adapts to (and its LMMSE weights use).
            gain: the power-normalisation gain from the header (:attr:`Encoded.gain`), ``[B]``.
            size: ``(H, W)`` of the original image, to crop the padding; ``None`` keeps the grid.
            equalized_h: the coefficients an MMSE equaliser at the receiver used (``csi="equalize"``
                with perfect CSI): the decoder undoes the equaliser's shrinkage ``|h|²/(|h|²+N0)``
                and weights each symbol by its own SNR ``|h|²/N0`` instead of the average (in a deep
                fade the average SNR over-trusts the symbols). Any model takes it.

        Shapes:
            y complex ``[B,k_max,Hc,Wc]`` → ``[B,3,H,W]`` in [0, 1] (eval mode; unclamped in training,
            so the gradient never dies).
        """
        b, _, hc, wc = y.shape
        self._check_k(k, (hc, wc))
        gain = torch.as_tensor(gain, dtype=torch.float32, device=y.device).reshape(-1).expand(b)
        mask = sent_mask(k, self.k_max)
        zero = torch.zeros((), dtype=y.dtype, device=y.device)
        noise = noise_variance(snr_db, b, y.device).view(b, 1, 1, 1)
        if equalized_h is not None:
            power = equalized_h.expand_as(y).abs().square().float()
            y = y * ((power + noise) / power.clamp_min(1e-12)).to(y.dtype)  # back to z + noise / h
            noise = noise / power.clamp_min(1e-12)
        y = torch.where(mask, y, zero)
        r = torch.stack([y.real, y.imag], dim=2).flatten(1, 2).float()  # [B, 2k, Hc, Wc]
        sent = mask.repeat_interleave(2, dim=1)
        sigma2 = (noise / 2).expand(b, self.k_max, hc, wc).repeat_interleave(2, dim=1)  # per real dim
        t = self.transform
        a = gain.view(b, 1, 1, 1) * t.log_gain.exp()[None, :, None, None] * t.cell_scale(k)
        lam = t.log_var.exp()[None, :, None, None]
        c = torch.where(sent, a * lam / (a.square() * lam + sigma2) * r, torch.zeros((), device=y.device))
        del r, sent, sigma2, a
        x_lin = t.synthesise(c)
        del c
        k_frac = k.to(torch.float32) / self.k_max
        snr = snr_vector(snr_db, b, y.device)
        if self._tiled((hc, wc)):
            x_hat = self._refine_tiles(x_lin, k_frac, snr)
        else:
            x_hat = x_lin + self.decoder(x_lin, k_frac, snr)
        if size is not None:
            x_hat = x_hat[..., : size[0], : size[1]]
        return x_hat if self.training else x_hat.clamp(0, 1)

    def _encode_tiles(
        self, xp: torch.Tensor, mp: torch.Tensor, k_frac: torch.Tensor, snr: torch.Tensor
    ) -> torch.Tensor:
        """Analysis + encoder residual tile by tile: ``[B, 2·k_max, Hc, Wc]``, as in :meth:`encode`."""
        grid = tuple(k_frac.shape[-2:])
        c = None
        for tile in tiles(grid, self.tile_cells, self.encoder_halo):
            rows, cols = tile.outer_slices(self.cell)
            k_rows, k_cols = tile.outer_slices()
            xs = xp[..., rows, cols]
            part = self.transform.analyse(xs) + self.encoder(
                xs, mp[..., rows, cols], k_frac[..., k_rows, k_cols], snr
            )
            if c is None:
                c = part.new_empty(*part.shape[:2], *grid)
            c[(..., *tile.inner_slices())] = part[(..., *tile.inner_in_outer())]
        return c

    def _refine_tiles(self, x_lin: torch.Tensor, k_frac: torch.Tensor, snr: torch.Tensor) -> torch.Tensor:
        """``x_lin + refiner(x_lin)`` tile by tile (the output is a new tensor: tiles read ``x_lin``)."""
        x_hat = torch.empty_like(x_lin)
        for tile in tiles(tuple(k_frac.shape[-2:]), self.tile_cells, self.refiner_halo):
            rows, cols = tile.outer_slices(self.cell)
            k_rows, k_cols = tile.outer_slices()
            residual = self.decoder(x_lin[..., rows, cols], k_frac[..., k_rows, k_cols], snr)
            inner = (..., *tile.inner_slices(self.cell))
            x_hat[inner] = x_lin[inner] + residual[(..., *tile.inner_in_outer(self.cell))]
        return x_hat

    def receive(
        self,
        out: ChannelOutput,
        k: torch.Tensor,
        snr_db: float | torch.Tensor,
        *,
        gain: torch.Tensor,
        size: tuple[int, int] | None = None,
    ) -> torch.Tensor:
        """:meth:`decode` a channel's output, handing over the coefficients the receiver equalised with.

        Raises:
            ValueError: the channel hands raw ``y`` and ``h`` to the decoder (``csi="decoder"``);
                this codec decodes equalised symbols (build the channel with ``csi="equalize"``).

        Shapes:
            as :meth:`decode`.
        """
        if out.h is not None and not out.equalized:
            raise ValueError("IA-JSCC decodes equalised symbols: build the channel with csi='equalize'")
        return self.decode(out.y, k, snr_db, gain=gain, size=size, equalized_h=out.h)

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
        """Encode, send through ``channel`` (a :mod:`mllmsc.channel` block) and decode.

        Shapes:
            x ``[B,3,H,W]``, k ``[B,1,Hc,Wc]`` → ``CodecOutput`` (x_hat ``[B,3,H,W]``).
        """
        z, mask, gain = self.encode(x, k, snr_db, importance=importance)
        out = channel(z, snr_db, generator=generator)
        x_hat = self.receive(out, k, snr_db, gain=gain, size=tuple(x.shape[-2:]))
        y = torch.where(mask, out.y, torch.zeros((), dtype=out.y.dtype, device=out.y.device))
        return CodecOutput(x_hat=x_hat, z=z, y=y, mask=mask, gain=gain, channel=out)

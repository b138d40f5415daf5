"""IA-JSCC: the importance-aware, SNR- and rate-adaptive deep JSCC codec of MLLM-SC.

References:
    Zhang, Sun, Guo, Chen, Ai, Gündüz, "MLLM-SC: multimodal large language model enabled semantic
    communication", arXiv 2507.04621 (2025): importance-aware encoder, dual path, SNR-adaptive decoder.
    Bourtsoulatze, Kurka, Gündüz, "Deep joint source-channel coding for wireless image
    transmission", IEEE TCCN 2019 (Deep JSCC).
    Xu, Ai, Chen, Lin, Wang, "Wireless image transmission using deep source channel coding with
    attention modules", IEEE TCSVT 2021 (ADJSCC: SNR attention modules, one model for all SNRs).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from mllmsc.channel import power_normalize
from mllmsc.channel.base import snr_vector
from mllmsc.codec.layers import GDN, FiLM, ResBlock, SNRAttention, UpConv, down_conv
from mllmsc.config import ConfigError, from_dict, to_dict
from mllmsc.errors import UserError
from mllmsc.types import ChannelOutput


class WeightsNotFoundError(UserError, FileNotFoundError):
    """A weights folder without ``config.json`` or ``model.safetensors``."""


class InvalidWeightsError(ConfigError):
    """A weights folder whose config or tensors do not describe an IA-JSCC model."""


CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


@dataclass(frozen=True)
class IAJSCCConfig:
    """Hyper-parameters of :class:`IAJSCC`; saved as ``config.json`` beside the weights.

    Attributes:
        channels: widths of the stride-2 stages; ``len(channels)`` stages make the cell side
            ``2 ** len(channels)`` pixels (4 stages → 16×16-pixel cells).
        k_max: complex symbols a cell can carry at most (``2·k_max`` real output channels).
        kernel: kernel size of the encoder's stride-2 convolutions.
        res_blocks: residual blocks at the cell resolution, in the encoder and in the decoder.
        hf_blocks: extra residual blocks in the high-fidelity head (the light head has none).
        film_hidden: hidden width of the FiLM conditioning networks.
        csi_input: the decoder takes the channel coefficients ``h`` as extra input channels
            (for fading channels with ``csi="decoder"``).
        intent_dim: size of an optional intent embedding that modulates the cell features;
            0 disables the hook.
        decoder_act: non-linearity after each decoder up-sampling, ``"prelu"`` or ``"igdn"``.
            IGDN grows like ``x²`` for large inputs, so a chain of them can blow up during
            training (it did here: activations reached 1e24 after ~900 steps); PReLU cannot.
    """

    channels: tuple[int, ...] = (64, 128, 128, 128)
    k_max: int = 192
    kernel: int = 5
    res_blocks: int = 2
    hf_blocks: int = 1
    film_hidden: int = 32
    csi_input: bool = False
    intent_dim: int = 0
    decoder_act: str = "prelu"

    @property
    def cell(self) -> int:
        return 2 ** len(self.channels)

    def __post_init__(self) -> None:
        if not self.channels or min(self.channels) < 1:
            raise ConfigError("channels: need at least one positive stage width")
        if self.k_max < 1:
            raise ConfigError("k_max: must be positive")
        if self.decoder_act not in ("prelu", "igdn"):
            raise ConfigError(f"decoder_act: must be 'prelu' or 'igdn', got {self.decoder_act!r}")


@dataclass(frozen=True)
class CodecOutput:
    """What one pass encoder → channel → decoder gives.

    Attributes:
        x_hat: reconstruction in [0, 1], ``[B, 3, H, W]``.
        z: channel input, complex64 ``[B, k_max, Hc, Wc]``, unit power over the sent symbols.
        y: channel output with the unsent symbols zeroed, same shape.
        mask: sent symbols, bool ``[B, k_max, Hc, Wc]``.
        channel: the channel's raw output.
    """

    x_hat: torch.Tensor
    z: torch.Tensor
    y: torch.Tensor
    mask: torch.Tensor
    channel: ChannelOutput


def sent_mask(k: torch.Tensor, k_max: int) -> torch.Tensor:
    """Which symbols each cell sends: the first ``k`` of its ``k_max``.

    Shapes:
        k: ``[B, 1, Hc, Wc]`` integer → bool ``[B, k_max, Hc, Wc]``.
    """
    index = torch.arange(k_max, device=k.device).view(1, k_max, 1, 1)
    return index < k


class Encoder(nn.Module):
    """Analysis transform with importance/rate FiLM and SNR attention, then the dual-path head.

    Shapes:
        x: ``[B, 3, H, W]``, importance: ``[B, 1, H, W]``, k_frac: ``[B, 1, Hc, Wc]`` (k / k_max),
        snr_db: ``[B]`` → real ``[B, 2·k_max, Hc, Wc]``.
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
        self.intent = nn.Linear(cfg.intent_dim, 2 * c) if cfg.intent_dim > 0 else None
        out = 2 * cfg.k_max
        # High-fidelity head: more capacity for the important cells ...
        self.hf_head = nn.Sequential(*(ResBlock(c) for _ in range(cfg.hf_blocks)), nn.Conv2d(c, out, 1))
        # ... and a light head for background cells; the gate mixes them per cell.
        self.lf_head = nn.Conv2d(c, out, 1)
        self.gate = nn.Conv2d(2, 1, 1)

    def forward(
        self,
        x: torch.Tensor,
        importance: torch.Tensor,
        k_frac: torch.Tensor,
        snr_db: torch.Tensor,
        intent: torch.Tensor | None = None,
    ) -> torch.Tensor:
        h = torch.cat([x, importance], dim=1)
        for down, gdn, film, snr in zip(self.downs, self.gdns, self.films, self.snr, strict=True):
            h = gdn(down(h))
            size = h.shape[-2:]
            scale = size[0] // k_frac.shape[-2]
            cond = torch.cat(
                [
                    F.adaptive_avg_pool2d(importance, size),
                    k_frac.repeat_interleave(scale, -2).repeat_interleave(scale, -1) if scale > 1 else k_frac,
                ],
                dim=1,
            )
            h = snr(film(h, cond), snr_db)
        h = self.body_snr(self.body(h), snr_db)
        if intent is not None:
            if self.intent is None:
                raise ValueError("this model has no intent input (config intent_dim = 0)")
            gamma, beta = self.intent(intent).chunk(2, dim=1)
            h = h * (1 + gamma[:, :, None, None]) + beta[:, :, None, None]
        cell_importance = F.adaptive_avg_pool2d(importance, h.shape[-2:])
        g = torch.sigmoid(self.gate(torch.cat([cell_importance, k_frac], dim=1)))
        return g * self.hf_head(h) + (1 - g) * self.lf_head(h)


class Decoder(nn.Module):
    """Synthesis transform: received symbols + sent-mask (+ CSI) → image, SNR- and rate-aware.

    The output is ``0.5 + h`` without a squashing function: a sigmoid saturates and its gradient
    dies (training collapsed that way here); the image is clamped to [0, 1] in eval mode only, so
    training always has a gradient.

    Shapes:
        y: real ``[B, 2·k_max (+2·k_max with CSI) + 1, Hc, Wc]`` (symbols, k/k_max map),
        k_frac: ``[B, 1, Hc, Wc]``, snr_db: ``[B]`` → ``[B, 3, 16·Hc, 16·Wc]`` (in [0, 1] in eval mode).
    """

    def __init__(self, cfg: IAJSCCConfig) -> None:
        super().__init__()
        c = cfg.channels[-1]
        cin = 2 * cfg.k_max * (2 if cfg.csi_input else 1) + 1
        self.head = nn.Conv2d(cin, c, 3, padding=1)
        self.body = nn.Sequential(*(ResBlock(c) for _ in range(cfg.res_blocks)))
        self.body_film = FiLM(c, 1, cfg.film_hidden)
        self.body_snr = SNRAttention(c)
        widths = (*reversed(cfg.channels), 3)
        n = len(cfg.channels)
        self.ups = nn.ModuleList(UpConv(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True))
        self.acts = nn.ModuleList(
            GDN(b, inverse=True) if cfg.decoder_act == "igdn" else nn.PReLU(b) for b in widths[1:-1]
        )
        self.films = nn.ModuleList(FiLM(b, 1, cfg.film_hidden) for b in widths[1:-1])
        self.snr = nn.ModuleList(SNRAttention(b) for b in widths[1:-1])
        assert len(self.acts) == n - 1

    def forward(self, inputs: torch.Tensor, k_frac: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
        h = self.body(self.head(inputs))
        h = self.body_snr(self.body_film(h, k_frac), snr_db)
        for i, up in enumerate(self.ups):
            h = up(h)
            if i < len(self.acts):
                h = self.acts[i](h)
                scale = h.shape[-2] // k_frac.shape[-2]
                cond = k_frac.repeat_interleave(scale, -2).repeat_interleave(scale, -1)
                h = self.snr[i](self.films[i](h, cond), snr_db)
        h = h + 0.5
        return h if self.training else h.clamp(0, 1)


class IAJSCC(nn.Module):
    """Importance-aware deep JSCC with per-cell rate adaptation and SNR adaptation.

    The image is cut into cells of ``cell × cell`` pixels (16 by default); cell ``i`` sends the
    first ``k_i`` of its ``k_max`` complex symbols. Training with random ``k`` makes the symbol order
    matter (the first symbols carry the most), so one model serves any allocation and any budget;
    the uniform allocation of the same model is the Deep JSCC / ADJSCC baseline::

        x [B,3,H,W] ─pad─┬─► analysis (4 × stride-2 conv + GDN,            ┌─ HF head (res + 1×1)─┐
        m [B,1,H,W] ─────┘   FiLM(m, k), SNR attention) ─► res blocks ─────┤      gate(m, k)      ├─►
                                                                           └─ light head (1×1) ───┘
        ─► s [B,2k_max,Hc,Wc] ─► complex, keep first k per cell, power-normalise ─► z ─► channel ─► y
        y·mask ⊕ k/k_max (⊕ h) ─► head conv ─► res blocks, FiLM(k), SNR attention
                               ─► 4 × (sub-pixel up + PReLU + FiLM(k) + SNR attention) ─► +0.5 ─crop─► x̂

    Images whose sides are not multiples of ``cell`` are padded (replicate) and cropped back; the
    symbol budget is always counted on the original ``H × W`` (see :mod:`mllmsc.codec.allocation`).

    Shapes:
        x: ``[B, 3, H, W]`` float in [0, 1]; importance: ``[B, 1, H, W]`` in [0, 1];
        k: ``[B, 1, Hc, Wc]`` integer in [0, k_max], ``Hc = ceil(H / cell)``;
        snr_db: float or ``[B]``; z, y: complex64 ``[B, k_max, Hc, Wc]``.
    """

    def __init__(self, config: IAJSCCConfig | None = None) -> None:
        super().__init__()
        self.config = config or IAJSCCConfig()
        self.encoder = Encoder(self.config)
        self.decoder = Decoder(self.config)

    @property
    def cell(self) -> int:
        return self.config.cell

    @property
    def k_max(self) -> int:
        return self.config.k_max

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

    def encode(
        self,
        x: torch.Tensor,
        k: torch.Tensor,
        snr_db: float | torch.Tensor,
        *,
        importance: torch.Tensor | None = None,
        intent: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Image → power-normalised complex symbols and the sent-mask.

        Args:
            x: images in [0, 1].
            k: symbols per cell (the allocation).
            snr_db: the SNR the encoder adapts to.
            importance: importance map; ``None`` means all ones (uniform guidance).
            intent: optional intent embedding ``[B, intent_dim]`` (needs ``intent_dim > 0``).

        Shapes:
            x ``[B,3,H,W]``, k ``[B,1,Hc,Wc]`` → z complex64 ``[B,k_max,Hc,Wc]``, mask bool same.
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
        s = self.encoder(self._pad(x), self._pad(importance.to(x.dtype)), k_frac, snr, intent)
        z = torch.complex(*s.float().chunk(2, dim=1))
        mask = sent_mask(k, self.k_max)
        return power_normalize(z, mask), mask

    def decode(
        self,
        y: torch.Tensor,
        k: torch.Tensor,
        snr_db: float | torch.Tensor,
        *,
        size: tuple[int, int] | None = None,
        h: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Received symbols → image.

        Args:
            y: channel output (equalised, or raw with ``h`` for a CSI-input model); the unsent
                symbols are ignored (zeroed here, the receiver knows ``k``).
            k: symbols per cell, as decoded from the side information.
            snr_db: the SNR the decoder adapts to.
            size: ``(H, W)`` of the original image, to crop the padding; ``None`` keeps the grid.
            h: channel coefficients broadcastable to ``y`` (only for ``csi_input`` models).

        Shapes:
            y complex ``[B,k_max,Hc,Wc]`` → ``[B,3,H,W]`` in [0, 1].
        """
        b, _, hc, wc = y.shape
        self._check_k(k, (hc, wc))
        mask = sent_mask(k, self.k_max)
        zero = torch.zeros((), dtype=y.dtype, device=y.device)
        y = torch.where(mask, y, zero)
        parts = [y.real, y.imag]
        if h is not None:
            if not self.config.csi_input:
                raise ValueError("this model takes no CSI input; equalise at the receiver (csi='equalize')")
            hh = torch.where(mask, h.expand_as(y).to(y.dtype), zero)
            parts += [hh.real, hh.imag]
        elif self.config.csi_input:
            raise ValueError("this model needs the channel coefficients h (csi_input = true)")
        k_frac = k.to(torch.float32) / self.k_max
        inputs = torch.cat([*parts, k_frac], dim=1).to(self.decoder.head.weight.dtype)
        x_hat = self.decoder(inputs, k_frac.to(inputs.dtype), snr_vector(snr_db, b, y.device))
        if size is not None:
            x_hat = x_hat[..., : size[0], : size[1]]
        return x_hat

    def forward(
        self,
        x: torch.Tensor,
        k: torch.Tensor,
        snr_db: float | torch.Tensor,
        channel: nn.Module,
        *,
        importance: torch.Tensor | None = None,
        intent: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> CodecOutput:
        """Encode, send through ``channel`` (a :mod:`mllmsc.channel` block) and decode.

        Shapes:
            x ``[B,3,H,W]``, k ``[B,1,Hc,Wc]`` → ``CodecOutput`` (x_hat ``[B,3,H,W]``).
        """
        z, mask = self.encode(x, k, snr_db, importance=importance, intent=intent)
        out = channel(z, snr_db, generator=generator)
        h = out.h if (out.h is not None and not out.equalized) else None
        x_hat = self.decode(out.y, k, snr_db, size=tuple(x.shape[-2:]), h=h)
        y = torch.where(mask, out.y, torch.zeros((), dtype=out.y.dtype, device=out.y.device))
        return CodecOutput(x_hat=x_hat, z=z, y=y, mask=mask, channel=out)

    # ---- persistence (diffusers style: config.json + model.safetensors) ----

    def save_pretrained(
        self,
        directory: str | Path,
        *,
        dtype: torch.dtype | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        """Write ``config.json`` and ``model.safetensors`` (atomically) to ``directory``.

        Args:
            directory: created if missing.
            dtype: store floating tensors in this dtype (e.g. ``torch.float16``); loading casts back.
            metadata: strings stored in the safetensors header (provenance: step, preset, ...).
        """
        from mllmsc.weights import save_model

        config = {"model": "ia-jscc", **to_dict(self.config)}
        save_model(directory, self.state_dict(), config, dtype=dtype, metadata=metadata)

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> IAJSCC:
        """Rebuild a model from ``config.json`` + ``model.safetensors`` (fp32 on CPU).

        Raises:
            WeightsNotFoundError: a missing file (a ``UserError`` and a ``FileNotFoundError``).
            InvalidWeightsError: a config or tensors that do not describe this model
                (a ``ConfigError``, hence a ``UserError``).
        """
        directory = Path(directory)
        try:
            raw = json.loads((directory / CONFIG_NAME).read_text(encoding="utf-8"))
        except (FileNotFoundError, NotADirectoryError):
            raise WeightsNotFoundError(f"no {CONFIG_NAME} in {directory}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise InvalidWeightsError(f"{directory / CONFIG_NAME} is not valid JSON: {err}") from None
        if not isinstance(raw, dict) or raw.pop("model", "ia-jscc") != "ia-jscc":
            raise InvalidWeightsError(f"{directory / CONFIG_NAME} does not describe an ia-jscc model")
        try:
            model = cls(from_dict(IAJSCCConfig, raw))
        except ConfigError as err:
            raise InvalidWeightsError(f"{directory / CONFIG_NAME}: {err}") from None
        weights = directory / WEIGHTS_NAME
        if not weights.is_file():
            raise WeightsNotFoundError(f"no {WEIGHTS_NAME} in {directory}")
        try:
            state = load_file(str(weights))
            reference = model.state_dict()
            state = {n: t.to(reference[n].dtype) if n in reference else t for n, t in state.items()}
            model.load_state_dict(state, strict=True)
        except (RuntimeError, OSError, ValueError, SafetensorError) as err:  # header, keys, shapes
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise InvalidWeightsError(f"{weights} does not fit its config: {first}") from None
        return model

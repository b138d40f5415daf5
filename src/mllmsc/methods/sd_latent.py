"""``sd-latent``: a Stable Diffusion latent over the channel, denoised from the SNR-matched step.

After Guo, Chen, Sun, Ai et al., "Diffusion-driven semantic communication for generative models
with bandwidth constraints" (IEEE TWC 2025, arXiv 2407.18468). The model side (VAE, UNet, the
matched start, the head) is :mod:`mllmsc.decoder.stable_diffusion`; this module is the link::

    x ──► VAE ──► z [B,4,h,w] ──► keep the first k values of each latent cell ──► pairs of reals → complex
      ──► × gain (unit power; the gain is a 12-bit header) ──► channel(snr) ──► equalise, ÷ gain
      ──► y = z + n (σ² per element) ──► StableDiffusionDecoder(y | prompt) ──► x̂

**Symbols.** One latent cell (8×8 pixels for SD) holds ``C = 4`` real values; two reals make one
complex channel symbol, so the whole latent is ``4·h·w / 2`` symbols, CBR ``1/96`` for an image
whose sides are multiples of 8. The bill follows the JSCC link's rules
(:mod:`mllmsc.codec.allocation`): the power-normalisation gain travels as a 12-bit header at QPSK
rate 1/3 (18 symbols, counted in the payload as IA-JSCC's is), the importance levels as side
information at the same rate, and ``payload = 18 + ceil(values sent / 2)``; ``payload + side_info
== total <= budget`` (equal whenever the budget does not exceed what there is to send).

**Allocation over latent cells.** ``k`` per cell counts the real values sent (not complex symbols):
a cell sends the first ``k`` of its channels. Without a map (or with a flat one) every cell gets
the same share, the remainder spread by IA-JSCC's uniform rule, and no side information is sent;
with a map, its mean over 64×64-pixel blocks is quantised to levels that are sent (IA-JSCC's side
information coding, counted; per block, as a 2-bit level per 8×8 cell would cost more than the
cell's payload) and the values are water-filled over the cells in proportion to ``floor +
level^concentration``, so important cells keep more channels. The receiver rebuilds ``k`` from
the budget and the side bits.

**CBR above 1/96** (more budget than the latent has values): the values are repeated. ``k`` may
then reach ``4·R`` per cell, ``R = ceil(values the budget affords / values of the latent)``; value
``j`` of a cell carries channel ``j mod 4``, and the receiver combines the copies of an element
weighted by their precision (the average under AWGN: ``R`` copies lower the noise ``R``-fold, a
3 dB gain per doubling, far below what a JSCC code gets from the same bandwidth; the anchor works
at and below 1/96).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from mllmsc.codec.allocation import (
    BudgetError,
    cell_importance,
    decode_side_info,
    encode_side_info,
    level_weights,
    quantize_levels,
    side_info_symbols,
    symbol_budget,
    waterfill,
)
from mllmsc.codec.model import dequantize_gain, quantize_gain
from mllmsc.decoder.base import ProgressFn
from mllmsc.decoder.stable_diffusion import (
    LatentHead,
    ReceivedLatent,
    StableDiffusion,
    StableDiffusionDecoder,
)
from mllmsc.errors import UserError
from mllmsc.latency import StageClock
from mllmsc.methods.base import FLAT_MAP_FALLBACK, Shared, TransmissionMethod, is_flat
from mllmsc.types import Allocation, ChannelOutput, ImportanceMap, TransmissionResult

#: Bits of the power-normalisation gain header (as IA-JSCC's ``gain_bits``).
GAIN_BITS = 12


class LatentAllocator:
    """Real latent values per latent cell, at both ends of the link (see the module docstring).

    The importance levels are sent per ``block`` of pixels (64: 8×8 latent cells), not per latent
    cell: a cell carries at most 2 symbols, and its own 2-bit level would cost 3 (QPSK, rate 1/3).

    Args:
        channels: latent channels ``C`` (values per cell without repetition).
        cell: pixels per latent cell along a side (the VAE's factor).
        importance: whether the allocation follows the map (and sends its levels).
        block: side in pixels of the blocks whose level is sent (a multiple of ``cell``).
        concentration, floor, n_levels: the importance rule (:func:`mllmsc.codec.allocate`).
    """

    header = side_info_symbols(GAIN_BITS)

    def __init__(
        self,
        *,
        channels: int,
        cell: int,
        importance: bool,
        block: int = 64,
        concentration: float = 1.0,
        floor: float = 0.1,
        n_levels: int = 4,
    ) -> None:
        if floor < 0 or concentration <= 0 or not 2 <= n_levels <= 256:
            raise UserError("sd-latent: floor must be >= 0, concentration > 0, n_levels in [2, 256]")
        if block < cell or block % cell:
            raise UserError(
                f"sd-latent: block must be a multiple of the {cell}-pixel latent cell, got {block}"
            )
        self.channels, self.cell, self.importance = int(channels), int(cell), bool(importance)
        self.block = int(block)
        self.rule = dict(concentration=float(concentration), floor=float(floor), n_levels=int(n_levels))

    @property
    def method(self) -> str:
        return "importance" if self.importance else "uniform"

    def grid(self, height: int, width: int) -> tuple[int, int]:
        """The latent grid (cells of ``cell`` pixels)."""
        return math.ceil(height / self.cell), math.ceil(width / self.cell)

    def repeats(self, budget: int, cells: int) -> int:
        """``R``: copies of each value the budget affords at most (1 up to CBR 1/96)."""
        return max(1, math.ceil(2 * (budget - self.header) / (self.channels * cells)))

    def allocate(self, importance: torch.Tensor, budget: int) -> Allocation:
        """Transmitter: ``k`` per cell for ``budget`` symbols per image.

        Shapes:
            importance: ``[B, 1, H, W]`` in [0, 1] → ``Allocation.k`` ``[B, 1, ceil(H/cell), ceil(W/cell)]``.
        """
        b, _, height, width = importance.shape
        levels = None
        if self.importance:
            levels = quantize_levels(cell_importance(importance, self.block), self.rule["n_levels"])
        return self._allocation(levels, b, budget, height, width)

    def receive(
        self, side_bits: tuple[torch.Tensor, ...], budget: int, height: int, width: int
    ) -> Allocation:
        """Receiver: the same allocation, from the side-information bits alone."""
        levels = None
        if self.importance:
            grid = (math.ceil(height / self.block), math.ceil(width / self.block))
            levels = torch.stack(
                [decode_side_info(bits, grid, self.rule["n_levels"])[None] for bits in side_bits]
            )
        return self._allocation(levels, len(side_bits), budget, height, width)

    def _allocation(
        self, levels: torch.Tensor | None, batch: int, budget: int, height: int, width: int
    ) -> Allocation:
        """``levels``: per block ``[B, 1, Hb, Wb]`` uint8, or ``None`` (uniform)."""
        hc, wc = self.grid(height, width)
        n = hc * wc
        cap = self.channels * self.repeats(budget, n)
        per_cell = None
        if levels is not None:  # each latent cell takes its block's level
            r = self.block // self.cell
            per_cell = levels.repeat_interleave(r, -2).repeat_interleave(r, -1)[..., :hc, :wc]
        ks, payloads, sides, streams = [], [], [], []
        for i in range(batch):
            if levels is not None:
                bits = encode_side_info(levels[i, 0], self.rule["n_levels"])
                side = side_info_symbols(bits.numel())
            else:
                bits, side = torch.zeros(0, dtype=torch.uint8), 0
            available = budget - self.header - side
            if available < 1:
                raise BudgetError(
                    f"sd-latent: a budget of {budget} symbols cannot hold the {self.header}-symbol "
                    "gain header"
                    + (f" and {side} symbols of side information" if side else "")
                    + "; raise the CBR"
                    + ("" if not side else " or send without a map")
                )
            values = min(2 * available, cap * n)
            if per_cell is None:  # IA-JSCC's uniform rule: floor(P/N) each, the remainder spread evenly
                base, rest = divmod(values, n)
                index = torch.arange(n)
                k = base + ((index + 1) * rest // n - index * rest // n)
            else:
                rule = self.rule
                w = level_weights(
                    per_cell[i].flatten(), rule["n_levels"], rule["concentration"], rule["floor"]
                )
                k = waterfill(w, values, cap)
            ks.append(k.view(1, hc, wc))
            payloads.append(self.header + math.ceil(int(k.sum()) / 2))
            sides.append(side)
            streams.append(bits)
        return Allocation(
            k=torch.stack(ks).long(),
            budget=budget,
            payload=torch.tensor(payloads, dtype=torch.int64),
            side_info=torch.tensor(sides, dtype=torch.int64),
            height=height,
            width=width,
            cell=self.cell,
            k_max=cap,
            levels=per_cell.to(torch.uint8) if per_cell is not None else None,
            method=self.method,
            side_bits=tuple(streams),
        )


def copies(k: torch.Tensor, channels: int) -> torch.Tensor:
    """Copies of each latent element sent when a cell sends ``k`` values (value ``j``: channel ``j mod C``).

    Shapes:
        k: ``[B, 1, h, w]`` int → ``[B, C, h, w]`` int64.
    """
    c = torch.arange(channels, device=k.device).view(1, channels, 1, 1)
    return k // channels + (c < k % channels).long()


def pack(z: torch.Tensor, n: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The values to send as complex symbols, power-normalised per image.

    Round ``r`` sends, in (channel, row, column) order, every element with more than ``r`` copies;
    consecutive values pair into one symbol (an odd last value is paired with 0).

    Returns:
        symbols ``[B, L]`` complex64 (unit average power over the sent ones), sent ``[B, L]`` bool,
        gain ``[B]`` float (the factor that normalised the power).

    Shapes:
        z: ``[B, C, h, w]`` float; n: copies, ``[B, C, h, w]`` int.
    """
    from mllmsc.channel import power_scale

    rounds = int(n.max()) if n.numel() else 0
    streams = []
    for zb, nb in zip(z.float(), n, strict=True):
        values = torch.cat([zb[nb > r] for r in range(rounds)]) if rounds else zb.new_zeros(0)
        if values.numel() % 2:
            values = torch.cat([values, values.new_zeros(1)])
        streams.append(torch.complex(values[0::2], values[1::2]))
    length = max(1, max(s.numel() for s in streams))
    symbols = torch.zeros(len(streams), length, dtype=torch.complex64, device=z.device)
    sent = torch.zeros(len(streams), length, dtype=torch.bool, device=z.device)
    for i, s in enumerate(streams):
        symbols[i, : s.numel()] = s
        sent[i, : s.numel()] = True
    gain = power_scale(symbols, sent)
    return symbols * gain.view(-1, 1).to(symbols.dtype), sent, gain


def unpack(out: ChannelOutput, n: torch.Tensor, gain: torch.Tensor) -> ReceivedLatent:
    """The received symbols back on the latent grid: ``y = z + n`` with its variance per element.

    Fading: the equalised symbol is brought back to zero-forcing (``s + n/h``, noise
    ``N0/|h|²``); copies of an element are combined weighted by their precision.

    Shapes:
        out.y: ``[B, L]``; n: copies ``[B, C, h, w]``; gain: header gain ``[B]`` → fields ``[B, C, h, w]``.
    """
    r, n0 = out.y, out.noise_var.view(-1, 1).to(out.y.device).float()
    if out.h is None:
        zf, var = r, n0.expand(r.shape)
    else:
        h = out.h.expand_as(r)
        h2 = h.abs().square().clamp_min(1e-12)
        zf = r * ((h2 + n0) / h2) if out.equalized else r * h.conj() / h2
        var = n0 / h2
    gain = gain.to(r.device).float()
    num = torch.zeros(n.shape, dtype=torch.float32, device=r.device)
    precision = torch.zeros_like(num)
    power = torch.zeros(n.shape[0], dtype=torch.float32, device=r.device)
    n = n.to(r.device)
    rounds = int(n.max()) if n.numel() else 0
    for i in range(n.shape[0]):
        count = int(n[i].sum())
        values = torch.view_as_real(zf[i]).flatten()[:count] / gain[i]
        noise = (var[i] / 2).repeat_interleave(2)[:count] / gain[i] ** 2  # per real part
        at = 0
        for rnd in range(rounds):
            where = n[i] > rnd
            m = int(where.sum())
            p = 1 / noise[at : at + m]
            num[i][where] += values[at : at + m] * p
            precision[i][where] += p
            at += m
        # E[z²] of the sent values from the header: mean |s|² = 1 means Σ z² = symbols / gain².
        power[i] = math.ceil(count / 2) / (count * float(gain[i]) ** 2) if count else 1.0
    sent = n > 0
    y = torch.where(sent, num / precision.clamp_min(1e-30), torch.zeros_like(num))
    noise_var = torch.where(sent, 1 / precision.clamp_min(1e-30), torch.ones_like(num))
    return ReceivedLatent(y=y, noise_var=noise_var, sent=sent, power=power)


class SDLatentMethod(TransmissionMethod):
    """The Stable Diffusion latent link and its SNR-matched diffusion receiver.

    Args:
        sd_model: a local Stable Diffusion folder (diffusers layout); default
            ``shared.weights["sd-latent"]``. Required.
        mode: ``fast`` (no UNet call), ``balanced`` or ``quality``.
        steps: override the mode's denoising steps.
        prompt: the text prompt (the user's intent).
        guidance_scale: classifier-free guidance (1.0: none, one UNet call per step).
        eta: DDIM stochasticity.
        head: a :class:`~mllmsc.decoder.stable_diffusion.LatentHead` folder (``None``: closed form).
        model: an already loaded :class:`~mllmsc.decoder.stable_diffusion.StableDiffusion`.
        device, dtype: where and in which precision the model runs (the caller's choice).
        shared: what this run's methods share (one loaded model per folder).
        progress: called after each denoising step with ``(done, total)``.
        block, concentration, floor, n_levels: the importance allocation (:class:`LatentAllocator`).

    Raises:
        UserError: no ``sd_model``; a folder that is not a Stable Diffusion model; bad settings.
    """

    name = "sd-latent"
    needs_importance = False  # reads a map when given one; uniform without

    def __init__(
        self,
        *,
        sd_model: str | Path | None = None,
        mode: str = "balanced",
        steps: int | None = None,
        prompt: str = "",
        guidance_scale: float = 1.0,
        eta: float = 0.0,
        head: str | Path | LatentHead | None = None,
        model: StableDiffusion | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        shared: Shared | None = None,
        progress: ProgressFn | None = None,
        block: int = 64,
        concentration: float = 1.0,
        floor: float = 0.1,
        n_levels: int = 4,
    ) -> None:
        if model is None:
            shared = shared if shared is not None else Shared()
            folder = sd_model if sd_model is not None else shared.weights.get("sd-latent")
            if folder is None:
                raise UserError("sd-latent needs sd_model=PATH (a local Stable Diffusion folder)")
            path = Path(folder)
            model = shared.get(
                ("sd-latent", path.resolve(), str(device), str(dtype)),
                lambda: StableDiffusion.from_folder(path, device=device, dtype=dtype),
            )
        self.sd = model
        self.decoder = StableDiffusionDecoder(
            model, mode, steps=steps, guidance_scale=guidance_scale, eta=eta, head=head
        )
        self.prompt, self.progress = prompt, progress
        common = dict(channels=model.latent_channels, cell=model.factor)
        rule = dict(block=block, concentration=concentration, floor=floor, n_levels=n_levels)
        self.uniform = LatentAllocator(importance=False, **common)
        self.by_importance = LatentAllocator(importance=True, **common, **rule)

    @torch.inference_mode()
    def transmit(
        self,
        x: torch.Tensor,
        importance: ImportanceMap | None,
        channel,
        snr_db: float,
        cbr: float,
        *,
        generator: torch.Generator | None = None,
    ) -> TransmissionResult:
        b, _, height, width = x.shape
        clock = StageClock()
        budget = symbol_budget(cbr, height, width)
        details: dict[str, object] = {}
        allocator = self.uniform
        m = torch.ones(b, 1, height, width)
        if importance is not None:
            if is_flat(importance.soft):
                details["fallback"] = FLAT_MAP_FALLBACK
            else:
                allocator, m = self.by_importance, importance.soft
        allocation = allocator.allocate(m.cpu(), budget)
        clock.lap("allocate")

        z = self.sd.encode(x)
        n = copies(allocation.k.to(z.device), self.sd.latent_channels)
        symbols, _, gain = pack(z, n)
        # The receiver knows the gain only as the header carries it (12 bits).
        gain_rx = dequantize_gain(quantize_gain(gain, GAIN_BITS), GAIN_BITS)
        clock.lap("encode")
        out = channel(symbols, snr_db, generator=generator)
        clock.lap("channel")
        received_k = allocator.receive(allocation.side_bits, budget, height, width).k
        received = unpack(out, copies(received_k, self.sd.latent_channels), gain_rx)
        decoded = self.decoder(
            received, size=(height, width), prompt=self.prompt, generator=generator, progress=self.progress
        )
        clock.lap("decode")

        starts = decoded.details["start_timestep"]
        details |= {
            "decoder": decoded.report(),
            "start_timestep": starts[0] if isinstance(starts, list) and b == 1 else starts,
            "repeats": allocation.k_max // self.sd.latent_channels,
            "head": decoded.details["head"],
        }
        return self.result(
            decoded.x.to(x.device), allocation.bill, clock.laps, importance=importance,
            allocation=allocation, channel=out, details=details,
        )  # fmt: skip


__all__ = ["GAIN_BITS", "LatentAllocator", "SDLatentMethod", "copies", "pack", "unpack"]

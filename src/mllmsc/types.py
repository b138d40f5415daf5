"""Output dataclasses shared by every layer (see DESIGN.md §1 for the names).

Shapes use ``B`` for the batch; images are ``[B, 3, H, W]`` in [0, 1]; complex symbol tensors keep
whatever trailing shape the transmitter chose.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class ChannelOutput:
    """What a channel hands the receiver.

    Attributes:
        y: received symbols, complex, same shape as the channel input ``z``. For a fading channel
            with ``csi="equalized"`` this is already the MMSE estimate of ``z``.
        h: channel coefficients the receiver knows (perfect or estimated), complex, broadcastable
            to ``y``; ``None`` for AWGN. For ``csi="equalized"`` it is the coefficient that was
            equalised, kept for analysis.
        noise_var: noise variance per complex symbol, ``[B]`` float (``10^(-snr_db/10)``).
        equalized: whether ``y`` was already equalised, so a decoder need not divide by ``h``.
    """

    y: torch.Tensor
    h: torch.Tensor | None
    noise_var: torch.Tensor
    equalized: bool = False


@dataclass(frozen=True)
class ImportanceMap:
    """Semantic guidance output.

    Attributes:
        soft: importance in [0, 1], ``[B, 1, H, W]`` float.
        mask: binary region of interest, ``[B, 1, H, W]`` bool.
        phrases: what the backend targeted (e.g. ``["red car"]``); empty when query-agnostic.
        used_query: whether the user's intent shaped the map.
        backend: registry name of the backend.
        latency_ms: wall time of the call.
    """

    soft: torch.Tensor
    mask: torch.Tensor
    phrases: list[str] = field(default_factory=list)
    used_query: bool = False
    backend: str = ""
    latency_ms: float = 0.0


@dataclass(frozen=True)
class Allocation:
    """Symbols per cell, and the bandwidth bill: ``payload + side_info == total <= budget``.

    Attributes:
        k: complex symbols each cell sends, ``[B, 1, Hc, Wc]`` int64 in [0, k_max].
        budget: channel symbols allowed per image (``floor(cbr · 3·H·W)``).
        payload: symbols of the JSCC payload per image, ``[B]`` int64: ``k.sum()`` per item plus the
            codec's own header (IA-JSCC's power gain, ``reserved`` in the allocation).
        side_info: symbols spent on the allocation map per image, ``[B]`` int64 (0 for uniform).
        height: original image height ``H`` (the budget counts ``H × W``, not the padded grid).
        width: original image width ``W``.
        cell: cell side in pixels.
        k_max: the cap of symbols per cell.
        levels: the quantised cell importance that the side information carries, ``[B, 1, Hc, Wc]``
            uint8; ``None`` for uniform allocation (the receiver derives ``k`` from the budget).
        method: ``"uniform"`` or ``"importance"``.
        side_bits: the side-information bitstream of each item (1-D uint8 0/1 tensors, empty for
            uniform allocation): what the receiver's allocator reads (see
            :class:`mllmsc.codec.allocation.Allocator`).
    """

    k: torch.Tensor
    budget: int
    payload: torch.Tensor
    side_info: torch.Tensor
    height: int
    width: int
    cell: int
    k_max: int
    levels: torch.Tensor | None = None
    method: str = "uniform"
    side_bits: tuple[torch.Tensor, ...] = ()

    @property
    def bill(self) -> SymbolBill:
        """The symbols this allocation spends, as every method reports them."""
        return SymbolBill(self.budget, self.payload, self.side_info, self.height, self.width)

    @property
    def total(self) -> torch.Tensor:
        """Symbols sent per image, ``[B]`` int64."""
        return self.bill.total

    @property
    def cbr_used(self) -> torch.Tensor:
        """``total / (3·H·W)`` per image, ``[B]`` float64."""
        return self.bill.cbr_used


@dataclass(frozen=True)
class ChannelState:
    """What the guidance knows of the link: the SNR and the bandwidth budget (either may be unknown).

    Attributes:
        snr_db: average SNR in dB, or ``None``.
        cbr: channel bandwidth ratio (symbols / (3·H·W)), or ``None``.
        channel: registry name of the channel, or ``None``.
    """

    snr_db: float | None = None
    cbr: float | None = None
    channel: str | None = None


@dataclass(frozen=True)
class SymbolBill:
    """The channel symbols one transmission spent, per image: ``payload + side_info == total <= budget``.

    Attributes:
        budget: channel symbols allowed per image (``floor(cbr · 3·H·W)``).
        payload: symbols of the content per image, ``[B]`` int64 (a JSCC codec's header included;
            the coded bits of a digital link).
        side_info: symbols spent describing how the payload is laid out (the allocation map),
            ``[B]`` int64; 0 for a method that sends none.
        height: image height ``H``.
        width: image width ``W``.
    """

    budget: int
    payload: torch.Tensor
    side_info: torch.Tensor
    height: int
    width: int

    @property
    def total(self) -> torch.Tensor:
        """Symbols sent per image, ``[B]`` int64."""
        return self.payload + self.side_info

    @property
    def cbr_used(self) -> torch.Tensor:
        """``total / (3·H·W)`` per image, ``[B]`` float64."""
        return self.total.double() / (3 * self.height * self.width)


@dataclass(frozen=True)
class TransmissionResult:
    """What one call of a transmission method (:mod:`mllmsc.methods`) delivered and what it cost.

    Attributes:
        x_hat: the received image, ``[B, 3, H, W]`` float in [0, 1].
        symbols: the bandwidth bill.
        latency_ms: wall time per stage (``allocate``, ``encode``, ``channel``, ``decode``, …, as
            the method has them; ``guidance`` when a :class:`~mllmsc.pipeline.Pipeline` ran it)
            and their ``total``.
        method: registry name of the method.
        importance: the importance map the method was given (``None``: none).
        allocation: symbols per cell (JSCC methods; ``None`` for the others).
        channel: the channel's output (``y``, ``h``, ``noise_var``), when one call carried the image.
        lost: per image, whether the receiver got nothing usable (a digital link's cliff), ``[B]``
            bool.
        details: method-specific facts, JSON-able (the digital link's MCS and codec quality, …).
    """

    x_hat: torch.Tensor
    symbols: SymbolBill
    latency_ms: dict[str, float]
    method: str
    importance: ImportanceMap | None = None
    allocation: Allocation | None = None
    channel: ChannelOutput | None = None
    lost: torch.Tensor | None = None
    details: dict = field(default_factory=dict)

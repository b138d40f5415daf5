"""The interface every transmission method implements (see :mod:`mllmsc.methods`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from mllmsc.errors import UserError
from mllmsc.limits import SNR_MAX_DB, SNR_MIN_DB
from mllmsc.types import ImportanceMap, SymbolBill, TransmissionResult


class Shared:
    """What the methods built for one run share: loaded models, encode caches, weight folders.

    Pass one ``Shared`` to every ``METHODS.build(name, shared=shared)`` of a run and the methods
    that need the same thing load it once: ``uniform-jscc`` and ``ia-jscc`` one codec, the
    digital methods one cache of image encodes.

    Args:
        weights: model name → folder (``{"ia-jscc": Path("runs/x/export")}``); a model not named
            here loads its shipped weights.
    """

    def __init__(self, weights: dict[str, str | Path] | None = None) -> None:
        self.weights = {k: Path(v) for k, v in (weights or {}).items() if v is not None}
        self._items: dict[Any, Any] = {}

    def get(self, key: Any, build: Callable[[], Any]) -> Any:
        """The item under ``key``, built by ``build()`` the first time it is asked for."""
        if key not in self._items:
            self._items[key] = build()
        return self._items[key]


class TransmissionMethod:
    """One way of sending an image over a channel: ``method(x, importance, channel, snr_db, cbr)``.

    Subclasses set :attr:`name` and implement :meth:`transmit`; :meth:`__call__` checks the inputs
    once for all of them. A method owns its models and caches (build it once, call it many times);
    the caller owns the channel, the generator and the device of ``x``.
    """

    #: Registry name, as it appears in reports and ``summary.csv``.
    name: str = ""
    #: Whether the method reads the importance map (then it must be given).
    needs_importance: bool = False

    def __call__(
        self,
        x: torch.Tensor,
        importance: ImportanceMap | None,
        channel,
        snr_db: float,
        cbr: float,
        *,
        generator: torch.Generator | None = None,
    ) -> TransmissionResult:
        """Send ``x`` at ``snr_db`` with ``floor(cbr·3·H·W)`` channel symbols per image.

        Args:
            x: the images.
            importance: the guidance output for ``x`` (``None`` for methods that ignore it).
            channel: a :mod:`mllmsc.channel` block.
            snr_db: average SNR in dB (the transmitter knows it).
            cbr: channel bandwidth ratio in (0, 1].
            generator: the source of every random draw (noise, fading).

        Shapes:
            x: ``[B, 3, H, W]`` float in [0, 1]; importance.soft ``[B, 1, H, W]`` →
            ``result.x_hat`` ``[B, 3, H, W]``.

        Raises:
            UserError: a wrong shape, a non-finite SNR, a CBR outside (0, 1], a missing
                importance map for a method that needs one.
        """
        _check_inputs(x, importance, snr_db, cbr, self)
        return self.transmit(x, importance, channel, float(snr_db), float(cbr), generator=generator)

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
        """The method itself, on checked inputs (see :meth:`__call__`)."""
        raise NotImplementedError

    def result(
        self, x_hat: torch.Tensor, symbols: SymbolBill, latency_ms: dict[str, float], **fields
    ) -> TransmissionResult:
        """A :class:`TransmissionResult` named after this method (``lost`` defaults to all False)."""
        fields.setdefault("lost", torch.zeros(x_hat.shape[0], dtype=torch.bool))
        return TransmissionResult(
            x_hat=x_hat, symbols=symbols, latency_ms=latency_ms, method=self.name, **fields
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


#: ``details["fallback"]`` of a method that sent a flat map as uniform allocation.
FLAT_MAP_FALLBACK = "uniform allocation: the importance map is flat (it marks no region)"


def is_flat(importance: torch.Tensor) -> bool:
    """Whether every item's map is constant (``[B, 1, H, W]``): it singles out nothing, so paying
    side information to describe an even split would be waste (send as uniform instead)."""
    spread = importance.flatten(1).amax(1) - importance.flatten(1).amin(1)
    return bool((spread < 1e-6).all())


def _check_inputs(x, importance, snr_db, cbr, method: TransmissionMethod) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != 3 or min(x.shape[-2:]) < 1:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise UserError(f"{method.name}: images must be a tensor [B, 3, H, W], got {shape}")
    if not x.is_floating_point():
        raise UserError(f"{method.name}: images must be float in [0, 1], got {x.dtype}")
    try:
        snr, ratio = float(snr_db), float(cbr)
    except (TypeError, ValueError):
        raise UserError(f"{method.name}: SNR and CBR must be numbers, got {snr_db!r}, {cbr!r}") from None
    if not math.isfinite(snr):
        raise UserError(f"{method.name}: SNR must be a finite number in dB, got {snr_db!r}")
    if not SNR_MIN_DB <= snr <= SNR_MAX_DB:
        raise UserError(f"{method.name}: SNR must lie in [{SNR_MIN_DB:g}, {SNR_MAX_DB:g}] dB, got {snr:g}")
    if not 0 < ratio <= 1:  # NaN fails too
        raise UserError(f"{method.name}: CBR must lie in (0, 1], got {cbr!r}")
    if importance is None:
        if method.needs_importance:
            raise UserError(f"{method.name} needs an importance map (guidance output)")
        return
    want = (x.shape[0], 1, *x.shape[-2:])
    if tuple(importance.soft.shape) != want:
        raise UserError(
            f"{method.name}: importance map has shape {tuple(importance.soft.shape)}, want {list(want)}"
        )

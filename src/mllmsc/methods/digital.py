"""The digital separation baselines as transmission methods (``digital``, ``digital-jpeg``,
``digital-capacity``): :class:`~mllmsc.baselines.digital.DigitalBaseline` image by image."""

from __future__ import annotations

import torch

from mllmsc.baselines.digital import DigitalBaseline
from mllmsc.baselines.source import EncodeCache
from mllmsc.codec import symbol_budget
from mllmsc.methods.base import Shared, TransmissionMethod
from mllmsc.types import ImportanceMap, SymbolBill, TransmissionResult

#: DigitalResult fields reported in ``TransmissionResult.details`` (one value per image).
DETAILS = ("outcome", "mcs", "quality", "source_bits", "codewords", "failed_codewords", "loss_probability")


class DigitalMethod(TransmissionMethod):
    """An image codec + 5G LDPC + QAM (or an ideal code); ignores the importance map.

    Args:
        codec: ``"heif"`` or ``"jpeg"``.
        capacity: an ideal capacity-achieving code instead of LDPC + QAM.
        name: the registry name this method reports.
        target_loss, table: see :class:`~mllmsc.baselines.digital.DigitalBaseline`.
        cache: image encodes kept across calls; default: the one in ``shared``, so the digital
            methods of a run encode each image once for all of them.
        shared: what this run's methods share.
    """

    needs_importance = False

    def __init__(
        self,
        codec: str,
        *,
        capacity: bool,
        name: str,
        target_loss: float = 0.1,
        cache: EncodeCache | None = None,
        table=None,
        shared: Shared | None = None,
    ) -> None:
        if cache is None:
            # Two images: sweep rows come grouped by image, so the cache never holds more.
            cache = (shared or Shared()).get("encode-cache", lambda: EncodeCache(max_images=2))
        self.name = name
        self.options = dict(capacity=capacity, target_loss=target_loss, table=table)
        self.codec = codec
        self.cache = cache
        self._links: dict[int, tuple[object, DigitalBaseline]] = {}

    def _link(self, channel) -> DigitalBaseline:
        """One baseline per channel block (its MCS choice reads the channel's statistics)."""
        key = id(channel)
        if key not in self._links:  # the channel is kept too, so its id is never reused
            self._links[key] = (
                channel,
                DigitalBaseline(self.codec, channel, cache=self.cache, **self.options),
            )
        return self._links[key][1]

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
        height, width = x.shape[-2:]
        link = self._link(channel)
        sent = [link.transmit(item, snr_db, cbr, generator=generator) for item in x]
        latency: dict[str, float] = {}
        for r in sent:
            for stage, ms in r.latency_ms.items():
                latency[stage] = latency.get(stage, 0.0) + ms
        payload = torch.tensor([r.symbols_used for r in sent], dtype=torch.int64)
        bill = SymbolBill(
            symbol_budget(cbr, height, width), payload, torch.zeros_like(payload), height, width
        )
        return self.result(
            torch.stack([r.x_hat for r in sent]),
            bill,
            latency,
            importance=importance,
            lost=torch.tensor([r.lost for r in sent]),
            details={key: [getattr(r, key) for r in sent] for key in DETAILS},
        )

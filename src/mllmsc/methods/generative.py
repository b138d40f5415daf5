"""A JSCC link followed by a receiver-side decoder: ``generative-fast|balanced|quality``.

    x ──► JSCC link (uniform-jscc or ia-jscc) ──► x̂ ──► decoder(x̂ | SNR, CBR, map, intent) ──► x̃

The link is unchanged (same symbols, same bill); the decoder's wall time adds to the ``decode``
stage and its ``{name, mode, steps, latency_ms}`` goes to ``details["decoder"]``. With the
``uniform-jscc`` link (the registered methods) the refiner is told the map was flat, as it was;
``generative-fast`` is then exactly ``uniform-jscc``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from mllmsc.decoder.base import Decoder, ProgressFn, ReceiverContext
from mllmsc.decoder.generative import MODE_SETTINGS, GenerativeDecoder
from mllmsc.decoder.refiner import GenerativeRefiner
from mllmsc.methods.base import Shared, TransmissionMethod
from mllmsc.types import ImportanceMap, TransmissionResult


class DecodedMethod(TransmissionMethod):
    """A transmission method whose received image a :class:`~mllmsc.decoder.Decoder` refines.

    Args:
        link: the JSCC method that carries the symbols.
        decoder: the receiver stage.
        name: the registry name this method reports.
        prompt: the user's intent, handed to text-conditioned decoders.
        progress: called after each denoising step with ``(done, total)``.
    """

    def __init__(
        self,
        link: TransmissionMethod,
        decoder: Decoder,
        *,
        name: str,
        prompt: str = "",
        progress: ProgressFn | None = None,
    ) -> None:
        self.link, self.decoder, self.name = link, decoder, name
        self.needs_importance = link.needs_importance
        self.prompt, self.progress = prompt, progress

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
        sent = self.link.transmit(x, importance, channel, snr_db, cbr, generator=generator)
        b, _, h, w = x.shape
        used_map = sent.allocation is not None and self.link.needs_importance and importance is not None
        fell_back = "fallback" in sent.details  # a flat map was sent as uniform
        m = importance.soft if used_map and not fell_back else torch.ones(b, 1, h, w)
        context = ReceiverContext(
            snr_db=torch.full((b,), float(snr_db)),
            cbr=sent.symbols.total.float() / (3 * h * w),  # what the link really used
            importance=m,
            prompt=self.prompt,
        )
        decoded = self.decoder(sent.x_hat, context, generator=generator, progress=self.progress)
        latency = dict(sent.latency_ms)
        latency["decode"] = latency.get("decode", 0.0) + decoded.latency_ms
        latency["total"] = latency.get("total", 0.0) + decoded.latency_ms
        details = {**sent.details, "decoder": decoded.report()}
        return self.result(
            decoded.x, sent.symbols, latency, importance=importance, allocation=sent.allocation,
            channel=sent.channel, lost=sent.lost, details=details,
        )  # fmt: skip


def generative_method(
    mode: str,
    *,
    link: str = "uniform-jscc",
    refiner: str | Path | None = None,
    shared: Shared | None = None,
    steps: int | None = None,
    sampler: str | None = None,
    prompt: str = "",
    progress: ProgressFn | None = None,
    **link_options,
) -> DecodedMethod:
    """``link`` followed by the embedded generative decoder in ``mode`` (named ``generative-<mode>``).

    Args:
        mode: ``fast``, ``balanced`` or ``quality``.
        link: the JSCC method carrying the symbols (``uniform-jscc`` or ``ia-jscc``).
        refiner: a refiner weights folder; default ``shared.weights["generative-refiner"]``, else
            the shipped one.
        shared, link_options: passed to the link (``weights``, ``codec``, allocation rule).
        steps, sampler, prompt, progress: see :class:`~mllmsc.decoder.generative.GenerativeDecoder`.
    """
    from mllmsc.methods import METHODS

    shared = shared if shared is not None else Shared()
    model = None
    if (MODE_SETTINGS.get(mode, (0,))[0] if steps is None else steps) > 0:
        from mllmsc.weights import weights_path

        folder = Path(
            refiner or shared.weights.get("generative-refiner") or weights_path("generative-refiner")
        )
        # One refiner for every mode of a run (generative-balanced and -quality share it).
        model = shared.get(
            ("generative-refiner", folder.resolve()), lambda: GenerativeRefiner.from_pretrained(folder)
        )
    decoder = GenerativeDecoder(mode, model=model, steps=steps, sampler=sampler)
    carrier = METHODS.build(link, shared=shared, **link_options)
    return DecodedMethod(carrier, decoder, name=f"generative-{mode}", prompt=prompt, progress=progress)


__all__ = ["DecodedMethod", "generative_method"]

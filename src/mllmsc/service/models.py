"""The models an edge holds: each built once, on first use, and shared by every request.

Building a backend loads weights (tiny-refseg, CLIPSeg, the codec): too slow to repeat per
request, so :class:`Models` caches them. A build runs under a lock so two first requests do not
load the same weights twice; afterwards requests share the built modules, which is safe because
inference only reads their parameters.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from mllmsc.errors import UserError

if TYPE_CHECKING:
    from mllmsc.decoder.generative import GenerativeDecoder
    from mllmsc.guidance import Guidance
    from mllmsc.methods.base import TransmissionMethod
    from mllmsc.tasks.vqa import Answerer

#: Backends a request may name: those that need nothing but the image and the intent (``mask`` and
#: ``box`` need a region from the user, which a request does not carry).
SERVED_GUIDANCE = ("auto", "tiny-refseg", "saliency", "clipseg", "llava", "uniform")


class Models:
    """Built guidance backends, the two JSCC methods (one codec), the generative decoder per mode
    and the scene answerer.

    Args:
        weights: IA-JSCC folder (``None``: shipped).
        answerer_weights: tiny-vqa folder (``None``: shipped).
        guidance_model: folder or cached hub id for ``clipseg`` / ``llava`` / ``auto``.
        refiner_weights: generative refiner folder (``None``: shipped).
    """

    def __init__(
        self,
        weights: Path | None = None,
        answerer_weights: Path | None = None,
        guidance_model: str | None = None,
        refiner_weights: Path | None = None,
    ) -> None:
        self.weights = weights
        self.answerer_weights = answerer_weights
        self.guidance_model = guidance_model
        self.refiner_weights = refiner_weights
        self._lock = threading.Lock()
        self._guidance: dict[str, Guidance] = {}
        self._methods: tuple[TransmissionMethod, TransmissionMethod] | None = None
        self._decoders: dict[str, GenerativeDecoder] = {}
        self._answerer: Answerer | None = None

    def guidance(self, name: str) -> Guidance:
        """Backend ``name`` (one of :data:`SERVED_GUIDANCE`), built on first use.

        Raises:
            UserError: not a served backend, or it cannot be built here (missing weights).
        """
        if name not in SERVED_GUIDANCE:
            raise UserError(f"guidance {name!r} is not served; choose one of {', '.join(SERVED_GUIDANCE)}")
        with self._lock:
            if name not in self._guidance:
                from mllmsc.guidance import build_guidance

                takes_model = name in ("clipseg", "llava", "auto", "tiny-refseg")
                model = self.guidance_model if takes_model and name != "tiny-refseg" else None
                self._guidance[name] = build_guidance(name, model=model)
            return self._guidance[name]

    def methods(self) -> tuple[TransmissionMethod, TransmissionMethod]:
        """``(uniform-jscc, ia-jscc)`` sharing one codec: the baseline and the guided link."""
        with self._lock:
            if self._methods is None:
                from mllmsc.methods import METHODS

                uniform = METHODS.build("uniform-jscc", weights=self.weights)
                self._methods = (uniform, METHODS.build("ia-jscc", codec=uniform.codec))
            return self._methods

    def generative_decoder(self, mode: str) -> GenerativeDecoder:
        """The diffusion decoder in ``mode`` (one of :data:`mllmsc.decoder.MODES`), built on first use.

        Raises:
            UserError: an unknown mode.
        """
        with self._lock:
            if mode not in self._decoders:
                from mllmsc.decoder.generative import GenerativeDecoder

                self._decoders[mode] = GenerativeDecoder(mode, weights=self.refiner_weights)
            return self._decoders[mode]

    def answerer(self) -> Answerer:
        """The receiver's tiny-vqa, for the questions of generated scenes."""
        with self._lock:
            if self._answerer is None:
                from mllmsc.tasks import ANSWERERS

                options = {"weights": self.answerer_weights} if self.answerer_weights is not None else {}
                self._answerer = ANSWERERS.build("tiny-vqa", **options)
            return self._answerer

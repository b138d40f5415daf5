"""``auto``, the default backend: the best guidance this machine can run, without a download.

Order (each probe is a file-system look-up, never a network call):

1. ``clipseg`` when its weights are present locally (a folder given as ``model=``, or
   ``CIDAS/clipseg-rd64-refined`` in the Hugging Face cache, probed with
   ``huggingface_hub.try_to_load_from_cache``);
2. ``tiny-refseg``, the embedded default, when its shipped weights exist — for queries about
   scenes it knows (a shape, colour or place it was trained to find; see
   :meth:`~mllmsc.guidance.refseg.TinyRefSegGuidance.grounds`); any other query goes to 3;
3. ``saliency`` (query-agnostic: ``used_query=False`` says the intent was not used).

A candidate that is present but fails to load is skipped, with the reason kept. The
:class:`~mllmsc.types.ImportanceMap` names the backend that ran; :attr:`AutoGuidance.reason`
says why it was chosen.
"""

from __future__ import annotations

import os

from mllmsc.errors import UserError
from mllmsc.guidance.base import Guidance
from mllmsc.types import ChannelState, ImportanceMap


class AutoGuidance(Guidance):
    """Picks ``clipseg`` → ``tiny-refseg`` → ``saliency``, whichever is here first.

    Args:
        model: CLIPSeg folder or cached hub id to try first (default the CLIPSeg default).
        device: where a model runs.

    Attributes:
        backend: the chosen backend.
        reason: one line on why it was chosen (what was missing).
    """

    name = "auto"

    def __init__(self, model: str | os.PathLike[str] | None = None, device: str = "cpu") -> None:
        from mllmsc.guidance.clipseg import DEFAULT_CLIPSEG, CLIPSegGuidance, model_present
        from mllmsc.guidance.refseg import TinyRefSegGuidance, weights_present
        from mllmsc.guidance.saliency import SaliencyGuidance

        clipseg_id = str(model) if model is not None else DEFAULT_CLIPSEG
        skipped: list[str] = []
        self.backend: Guidance | None = None
        if model_present(clipseg_id):
            try:
                self.backend = CLIPSegGuidance(clipseg_id, device=device)
            except UserError as exc:
                skipped.append(f"clipseg failed to load ({exc})")
        else:
            skipped.append(f"no CLIPSeg weights ({clipseg_id}) on this machine")
        if self.backend is None:
            if weights_present():
                try:
                    self.backend = TinyRefSegGuidance(device=device)
                except UserError as exc:
                    skipped.append(f"tiny-refseg failed to load ({exc})")
            else:
                skipped.append("no tiny-refseg weights")
        self.fallback = SaliencyGuidance()
        if self.backend is None:
            self.backend = self.fallback
        chosen = self.backend.name
        self.reason = f"auto chose {chosen}" + (f": {'; '.join(skipped)}" if skipped else "")
        if chosen == "saliency":
            self.reason += " (query-agnostic: the intent is not used)"

        if chosen == "tiny-refseg":
            self.reason += " (queries naming no shape, colour or place it knows go to saliency)"

    def route(self, intent: str | None) -> Guidance:
        """The backend that answers ``intent``: tiny-refseg hands queries outside its world to saliency."""
        grounds = getattr(self.backend, "grounds", None)
        return self.fallback if grounds is not None and not grounds(intent) else self.backend

    def __call__(self, x, intent: str | None = None, csi: ChannelState | None = None) -> ImportanceMap:
        """The routed backend's map; ``backend`` names it (``clipseg``, ``tiny-refseg``, ``saliency``)."""
        return self.route(intent)(x, intent, csi)

    def predict(self, x, intent, csi):
        return self.route(intent).predict(x, intent, csi)

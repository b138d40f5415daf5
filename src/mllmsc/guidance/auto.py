"""``auto``, the default backend: the best guidance this machine can run, without a download.

Order (each probe is a file-system look-up, never a network call):

1. ``clipseg`` when its weights are present locally (a folder given as ``model=``, or
   ``CIDAS/clipseg-rd64-refined`` in the Hugging Face cache, probed with
   ``huggingface_hub.try_to_load_from_cache``);
2. ``tiny-refseg``, the embedded default, when its shipped weights exist — for queries inside its
   closed world only, checked per call (see :mod:`mllmsc.guidance.refseg`)::

       intent ─► every content word in its vocabulary? ─ no ──────────────────► saliency
                   │ yes
       x ─► tiny-refseg ─► a crisp region (vagueness ≤ MAX_VAGUENESS)? ─ no ─► saliency
                   │ yes ─► its map

   The words cannot tell a photo from a scene ("the red star" reads the same on both); the
   model's own answer can: crisp on the scenes it knows, vague or empty on photos;
3. ``saliency`` (query-agnostic: ``used_query=False`` says the intent was not used).

A candidate that is present but fails to load is skipped, with the reason kept. The
:class:`~mllmsc.types.ImportanceMap` names the backend that ran; :attr:`AutoGuidance.reason`
says why it was chosen and, after a routed call, where that query went and why.
"""

from __future__ import annotations

import math
import os
import time

import torch

from mllmsc.errors import UserError
from mllmsc.guidance.base import Guidance, check_images
from mllmsc.types import ChannelState, ImportanceMap


class AutoGuidance(Guidance):
    """Picks ``clipseg`` → ``tiny-refseg`` → ``saliency``, whichever is here first.

    Args:
        model: CLIPSeg folder or cached hub id to try first (default the CLIPSeg default).
        device: where a model runs.

    Attributes:
        backend: the chosen backend (tiny-refseg still hands queries outside its world to
            :attr:`fallback`).
        fallback: saliency.
        choice: one line on why :attr:`backend` was chosen (what was missing).
        last_route: after a call that tiny-refseg could have answered, where the query went and
            why (``None`` otherwise).
    """

    name = "auto"

    def __init__(self, model: str | os.PathLike[str] | None = None, device: str = "cpu") -> None:
        from mllmsc.guidance.clipseg import DEFAULT_CLIPSEG, CLIPSegGuidance
        from mllmsc.guidance.refseg import TinyRefSegGuidance, weights_present
        from mllmsc.guidance.saliency import SaliencyGuidance
        from mllmsc.hub import model_present

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
        self.choice = f"auto chose {chosen}" + (f": {'; '.join(skipped)}" if skipped else "")
        if chosen == "saliency":
            self.choice += " (query-agnostic: the intent is not used)"
        if self._closed_world:
            self.choice += (
                " (queries with words it does not know, and images where it finds no crisp region, "
                "go to saliency)"
            )
        self.last_route: str | None = None

    @property
    def _closed_world(self) -> bool:
        """Whether the backend knows only its own world (tiny-refseg), so each call is checked."""
        return hasattr(self.backend, "grounds") and hasattr(self.backend, "answer")

    @property
    def reason(self) -> str:
        """Why the backend was chosen and, after a routed call, where that query went and why."""
        return self.choice if self.last_route is None else f"{self.choice}; {self.last_route}"

    def route(self, intent: str | None) -> Guidance:
        """The backend the words of ``intent`` go to (the first check only; the answer is not seen)."""
        return self.fallback if self._closed_world and not self.backend.grounds(intent) else self.backend

    def __call__(self, x, intent: str | None = None, csi: ChannelState | None = None) -> ImportanceMap:
        """The map of the backend that answers; ``backend`` names it (clipseg, tiny-refseg, saliency).

        Shapes:
            x: ``[B, 3, H, W]`` in [0, 1] → soft ``[B, 1, H, W]`` float in [0, 1], mask bool same.
        """
        check_images(x)
        start = time.perf_counter()
        ran, soft, phrases, used_query = self._decide(x, intent, csi)
        return ran.finish(soft, phrases, used_query, csi, start)

    def predict(self, x, intent, csi):
        _, soft, phrases, used_query = self._decide(x, intent, csi)
        return soft, phrases, used_query

    def _decide(
        self, x: torch.Tensor, intent: str | None, csi: ChannelState | None
    ) -> tuple[Guidance, torch.Tensor, list[str], bool]:
        """Which backend answers (whole batch), and its prediction; sets :attr:`last_route`."""
        self.last_route = None
        if not self._closed_world:
            return self.backend, *self.backend.predict(x, intent, csi)
        tiny = self.backend
        name = tiny.name
        if not tiny.grounds(intent):
            unknown = tiny.unknown_words(intent)
            if unknown:
                why = f"{name} does not know {', '.join(repr(w) for w in unknown)}"
            else:
                why = "the query names nothing" if intent and intent.strip() else "there is no query"
            return self._to_fallback(x, intent, csi, why)
        soft, phrases, used_query, vague = tiny.answer(x, intent)
        from mllmsc.guidance.refseg import MAX_VAGUENESS

        worst = float(vague.max())
        if worst > MAX_VAGUENESS:  # one vague item sends the batch: one backend per map
            why = (
                f"{name} found no region"
                if math.isinf(worst)
                else f"{name}'s map is vague (its uncertain rim is {worst:.1f}x the region it marks)"
            )
            return self._to_fallback(x, intent, csi, why + ", as on images unlike the scenes it knows")
        self.last_route = f"this query went to {name}: it knows every word and found a crisp region"
        return tiny, soft, phrases, used_query

    def _to_fallback(
        self, x: torch.Tensor, intent: str | None, csi: ChannelState | None, why: str
    ) -> tuple[Guidance, torch.Tensor, list[str], bool]:
        self.last_route = (
            f"this query went to {self.fallback.name} (query-agnostic: the intent is not used): {why}"
        )
        return self.fallback, *self.fallback.predict(x, intent, csi)

"""``clipseg``: text-prompted segmentation with CLIPSeg (Lüddecke & Ecker, CVPR 2022).

::

    intent ─► extract_phrases ─► p₁ … p_P ─┐
    x [B,3,H,W] ─► processor (352², CLIP norm) ─► CLIPSeg ─► logits [B·P, h, w]
                                                      └─► sigmoid ─► upsample to H×W ─► max over p ─► soft

Weights load with ``from_pretrained(..., local_files_only=True)`` from a local folder or the Hugging
Face cache, never from a hub: a missing model is a :class:`~mllmsc.errors.UserError` that says
what to download and where to put it. ``transformers`` is imported only when a backend is built.
"""

from __future__ import annotations

import os

import torch

from mllmsc.data.io import images_to_pil
from mllmsc.guidance.base import Guidance
from mllmsc.guidance.phrases import extract_phrases
from mllmsc.hub import load_pretrained, missing_model_error, model_present, resolve_dtype

DEFAULT_CLIPSEG = "CIDAS/clipseg-rd64-refined"


class CLIPSegGuidance(Guidance):
    """CLIPSeg maps of the intent's noun phrases, combined by a pixel-wise max.

    Args:
        model: a folder saved with ``save_pretrained`` or a hub id already in the local cache
            (default ``CIDAS/clipseg-rd64-refined``).
        device: where the model runs (the user owns the device).
        dtype: ``"float32"`` (default on CPU), ``"float16"``, ``"bfloat16"`` or a torch dtype.
        max_phrases: the most phrases segmented per image.

    Without a usable phrase in the intent the map is uniform (nothing to look for, so everything
    matters) and ``used_query`` is ``False``.
    """

    name = "clipseg"
    channel_aware = True

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        device: str = "cpu",
        dtype: str | torch.dtype | None = None,
        max_phrases: int = 4,
    ) -> None:
        self.model_id = str(model) if model is not None else DEFAULT_CLIPSEG
        if not model_present(self.model_id):  # before importing transformers: errors stay fast
            raise missing_model_error("CLIPSeg", self.model_id)
        from transformers import CLIPSegForImageSegmentation, CLIPSegProcessor

        self.device = device
        self.max_phrases = max_phrases
        self.model, self.processor = load_pretrained(
            "CLIPSeg",
            CLIPSegForImageSegmentation,
            CLIPSegProcessor,
            self.model_id,
            device=device,
            dtype=resolve_dtype(dtype, device),
        )

    @torch.inference_mode()
    def segment(self, x: torch.Tensor, phrases: list[str]) -> torch.Tensor:
        """One soft map per (image, phrase).

        Shapes:
            x: ``[B, 3, H, W]`` in [0, 1] → ``[B, P, H, W]`` float32 in [0, 1] (``P = len(phrases)``).
        """
        b, _, h, w = x.shape
        if not phrases:
            return x.new_zeros(b, 0, h, w, dtype=torch.float32)
        images = images_to_pil(x)
        n_p = len(phrases)
        inputs = self.processor(
            text=phrases * b,
            images=[im for im in images for _ in range(n_p)],
            padding=True,
            return_tensors="pt",
        )
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
        logits = self.model(**inputs).logits.float()
        if logits.dim() == 2:  # CLIPSeg squeezes a batch of one
            logits = logits[None]
        maps = torch.sigmoid(logits)[:, None]  # [B·P, 1, h, w]
        # The processor squashed the image to a square; resizing back to H×W undoes the stretch.
        maps = torch.nn.functional.interpolate(maps, size=(h, w), mode="bilinear", align_corners=False)
        return maps.reshape(b, n_p, h, w).cpu().to(x.device)

    def phrases_for(self, intent: str | None) -> list[str]:
        """The phrases this backend segments for ``intent``."""
        return extract_phrases(intent, max_phrases=self.max_phrases)

    def predict(self, x, intent, csi):
        phrases = self.phrases_for(intent)
        b, _, h, w = x.shape
        if not phrases:
            return x.new_ones(b, 1, h, w), [], False
        return combine(self.segment(x, phrases)), phrases, True


def combine(maps: torch.Tensor) -> torch.Tensor:
    """Per-phrase maps ``[B, P, H, W]`` → one map ``[B, 1, H, W]``: the pixel-wise max.

    The max (a fuzzy OR) keeps every target at its own confidence; a mean would dilute one
    sure target by the others.
    """
    if maps.shape[1] == 0:
        return maps.new_zeros(maps.shape[0], 1, *maps.shape[2:])
    return maps.amax(dim=1, keepdim=True)

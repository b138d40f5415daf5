"""``tiny-refseg``: the embedded, download-free text-conditioned segmenter (the default of ``auto``
when no CLIPSeg is on the machine).

The model (:mod:`mllmsc.guidance.tiny_refseg_model`: image encoder, BiGRU over the query, FiLM
and joint pixel-word attention, U-Net decoder) is trained by this project on synthetic AR scenes
(:mod:`mllmsc.data.scenes`) with ``mllmsc train --preset configs/tiny_refseg.toml`` and shipped as
``src/mllmsc/weights/tiny-refseg/{config.json,model.safetensors}``. It reads the whole request
("what colour is the ring?", "the star left of the blue circle"); the soft map is
``sigmoid(logits)`` resized to the image.

It knows the scene generator's world: shapes, colours and places. :meth:`TinyRefSegGuidance.grounds`
says whether a query names any of them; ``auto`` hands queries that do not (e.g. "the dog") to
saliency instead of letting the model guess.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from mllmsc.errors import UserError
from mllmsc.guidance.base import Guidance

WEIGHTS_NAME = "tiny-refseg"


def default_weights_dir() -> Path:
    """Where the shipped checkpoint lives (``src/mllmsc/weights/tiny-refseg``)."""
    from mllmsc.weights import WEIGHTS_DIR

    return WEIGHTS_DIR / WEIGHTS_NAME


def weights_present(path: str | os.PathLike[str] | None = None) -> bool:
    """Whether a tiny-refseg checkpoint (``config.json`` + ``model.safetensors``) is at ``path``."""
    p = Path(path) if path is not None else default_weights_dir()
    return (p / "config.json").is_file() and (p / "model.safetensors").is_file()


def _load_model(path: Path) -> torch.nn.Module:
    try:
        from mllmsc.guidance.tiny_refseg_model import TinyRefSeg  # written by the training task
    except ImportError as exc:
        raise UserError(
            "tiny-refseg: weights are present but the model code (mllmsc.guidance.tiny_refseg_model) "
            "is not; this build cannot run them"
        ) from exc
    return TinyRefSeg.from_pretrained(path).eval()


#: Words tiny-refseg can ground in an image besides the shape and colour names (places).
_PLACE_WORDS = frozenset({"left", "right", "top", "bottom", "centre", "center", "middle", "corner"})


class TinyRefSegGuidance(Guidance):
    """The embedded text-conditioned segmenter (see the module docstring).

    Args:
        model: checkpoint folder; default the shipped ``weights/tiny-refseg``.
        device: where the model runs.
    """

    name = "tiny-refseg"
    channel_aware = True

    def __init__(self, model: str | os.PathLike[str] | None = None, device: str = "cpu") -> None:
        path = Path(model) if model is not None else default_weights_dir()
        if not weights_present(path):
            if model is None:
                raise UserError(
                    f"tiny-refseg weights missing (expected {path}/config.json and model.safetensors; "
                    "`mllmsc train --preset configs/tiny_refseg.toml` makes them); "
                    "use --guidance clipseg, saliency or auto"
                )
            raise UserError(f"tiny-refseg checkpoint {path} needs config.json and model.safetensors")
        self.device = device
        self.model = _load_model(path).to(device)

    def grounds(self, intent: str | None) -> bool:
        """Whether ``intent`` names a shape, colour or place the model was trained to find."""
        from mllmsc.data.scenes import COLOURS, SHAPES
        from mllmsc.guidance.tiny_refseg_model import tokenize

        known = set(SHAPES) | {f"{s}s" for s in SHAPES} | {"crosses"} | set(COLOURS) | _PLACE_WORDS
        return bool(intent) and any(w in known and w in self.model.index for w in tokenize(intent))

    @torch.inference_mode()
    def predict(self, x, intent, csi):
        b, _, h, w = x.shape
        if not intent or not intent.strip():
            return x.new_ones(b, 1, h, w), [], False
        logits = self.model(x.to(self.device), [intent] * b)
        soft = torch.sigmoid(logits.float())
        soft = torch.nn.functional.interpolate(soft, size=(h, w), mode="bilinear", align_corners=False)
        return soft.to(x.device), [intent.strip()], True

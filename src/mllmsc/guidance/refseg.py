"""``tiny-refseg``: the embedded, download-free text-conditioned segmenter (issue 4, item 4).

HOOK for the training task. What exists now is the registry entry and the weights check; the model
itself (image encoder, text encoder over the query, FiLM or cross-attention, mask decoder) is
trained later by ``mllmsc train --preset configs/tiny_refseg.toml`` on :mod:`mllmsc.data.scenes`
and shipped as ``src/mllmsc/weights/tiny-refseg/{config.json,model.safetensors}``.

To finish it, a later task provides, in a module of its choice (``mllmsc.guidance.tiny_refseg_model``
is what :func:`_load_model` imports):

* ``TinyRefSeg.from_pretrained(folder) -> nn.Module`` (safetensors + config.json, as the codec);
* ``model(x, texts) -> logits`` with ``x [B, 3, H, W]`` in [0, 1], ``texts`` a list of ``B``
  strings (the raw intent: the model reads the whole request), logits ``[B, 1, h, w]``.

:class:`TinyRefSegGuidance` then needs no change: it resizes ``sigmoid(logits)`` to the image.
Until the weights are shipped, building the backend raises a clear :class:`UserError`, and
``auto`` skips it.
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


class TinyRefSegGuidance(Guidance):
    """The embedded text-conditioned segmenter (see the module docstring: weights not shipped yet).

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
                    f"tiny-refseg weights not shipped yet (expected {path}/config.json and "
                    "model.safetensors; they come from `mllmsc train --preset configs/tiny_refseg.toml`); "
                    "use --guidance clipseg, saliency or auto"
                )
            raise UserError(f"tiny-refseg checkpoint {path} needs config.json and model.safetensors")
        self.device = device
        self.model = _load_model(path).to(device)

    @torch.inference_mode()
    def predict(self, x, intent, csi):
        b, _, h, w = x.shape
        if not intent or not intent.strip():
            return x.new_ones(b, 1, h, w), [], False
        logits = self.model(x.to(self.device), [intent] * b)
        soft = torch.sigmoid(logits.float())
        soft = torch.nn.functional.interpolate(soft, size=(h, w), mode="bilinear", align_corners=False)
        return soft.to(x.device), [intent.strip()], True

"""``tiny-refseg``: the embedded, download-free text-conditioned segmenter (the default of ``auto``
when no CLIPSeg is on the machine).

The model (:mod:`mllmsc.guidance.tiny_refseg_model`: image encoder, BiGRU over the query, FiLM
and joint pixel-word attention, U-Net decoder) is trained by this project on synthetic AR scenes
(:mod:`mllmsc.data.scenes`) with ``mllmsc train --preset configs/tiny_refseg.toml`` and shipped as
``src/mllmsc/weights/tiny-refseg/{config.json,model.safetensors}``. It reads the whole request
("what colour is the ring?", "the star left of the blue circle"); the soft map is
``sigmoid(logits)`` resized to the image.

It knows a closed world: the words of its own vocabulary (``vocab`` in its ``config.json``) and
the synthetic scenes it was trained on. ``auto`` uses it only inside that world, in two checks::

    intent ─► grounds?  every content word is in the vocabulary ─ no ─► saliency
                 │ yes
    x ─► model ─► vagueness ≤ MAX_VAGUENESS?  (the uncertain rim is no larger than the region)
                 │ no ─► saliency                  │ yes ─► its map

* :meth:`TinyRefSegGuidance.grounds`, on the words: a word outside the vocabulary reaches the model
  as ``<unk>``, so a query that needs one ("the dog", "the astronaut's face") asks about something
  it was never shown. Function words (:data:`FUNCTION_WORDS`: articles, pronouns, auxiliaries,
  question words, non-spatial prepositions) carry no referent and are exempt; spatial words are
  not (a relation the model does not know cannot be resolved). The vocabulary already holds every
  form the model was trained with (``star`` and ``stars``), so no plural is derived: a plural it
  lacks would reach it as ``<unk>`` too.
* :func:`vagueness`, on the answer: the words alone cannot tell a photo from a scene ("the red
  star" is a scene query on any image), the model can. On the scenes it was trained on it draws a
  crisp region: the pixels it is unsure of (``0.1 < p < 0.9``) are fewer than those it marks
  (``p >= 0.5``) for 97.5 % of 636 generated scene queries (80 scenes of seed 0, procedural and
  photo backgrounds); on photos it marks nothing or a vague smear, and only 43 % of 406 photo ×
  scene-query pairs (the 24 Kodak images and five scikit-image photos, 14 scene queries each) pass
  (the 13,000-step weights before the ``varied`` run: 97.6 % and 38 % on the same queries). With
  those earlier weights "the red star" on scikit-image's astronaut marked 0.5 % of the image with
  a rim 4.4 times that area.
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


#: English closed-class words with no visual referent: a query may hold them whether or not the
#: model's vocabulary does (they become ``<unk>`` and change nothing it must find). Spatial
#: prepositions ("above", "behind", "near") are left out on purpose: they name a relation.
FUNCTION_WORDS = frozenset(
    word
    for group in (
        "a an the this that these those some any each every all both either neither another other such",
        "i me my mine we us our ours you your yours it its they them their he him his she her one ones",
        "s t",  # what the tokenizer leaves of "astronaut's", "don't"
        "of in on at to for with by from about as into onto",  # non-spatial (or generic) prepositions
        "and or but nor so if then than",
        "is are was were be been being am do does did doing done have has had",
        "can could will would shall should may might must",
        "what which where who whom whose how why when whatever whichever",
        "please there here just also very really",
    )
    for word in group.split()
)

#: The vaguest answer ``auto`` takes from tiny-refseg (see :func:`vagueness`): an uncertain rim as
#: large as the region itself.
MAX_VAGUENESS = 1.0


def vagueness(soft: torch.Tensor) -> torch.Tensor:
    """How unsure a map is of its region: pixels with ``0.1 < p < 0.9`` per pixel with ``p >= 0.5``.

    Measured at the model's own resolution (resizing would widen the rim). ``inf`` where the map
    marks nothing; ``0`` for a map that is all ones (no query).

    Shapes:
        soft: ``[B, 1, h, w]`` in [0, 1] → ``[B]`` float32.
    """
    rim = ((soft > 0.1) & (soft < 0.9)).flatten(1).sum(1).float()
    area = (soft >= 0.5).flatten(1).sum(1).float()
    return torch.where(area > 0, rim / area.clamp_min(1), torch.full_like(rim, float("inf")))


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

    @property
    def vocabulary(self) -> frozenset[str]:
        """The words the model was trained with (its config's ``vocab``, without ``<pad>``/``<unk>``)."""
        return frozenset(self.model.config.vocab[2:])

    def content_words(self, intent: str | None) -> list[str]:
        """The words of ``intent`` (the model's own tokenizer) that are not :data:`FUNCTION_WORDS`."""
        from mllmsc.guidance.tiny_refseg_model import tokenize

        return [w for w in tokenize(intent or "") if w not in FUNCTION_WORDS]

    def unknown_words(self, intent: str | None) -> list[str]:
        """The content words of ``intent`` outside the model's vocabulary, each once, in order."""
        known = self.vocabulary
        return list(dict.fromkeys(w for w in self.content_words(intent) if w not in known))

    def grounds(self, intent: str | None) -> bool:
        """Whether ``intent`` reads as a query about the model's world (see the module docstring).

        It must have a content word, and every content word must be in the model's vocabulary.
        """
        return bool(self.content_words(intent)) and not self.unknown_words(intent)

    @torch.inference_mode()
    def answer(
        self, x: torch.Tensor, intent: str | None
    ) -> tuple[torch.Tensor, list[str], bool, torch.Tensor]:
        """The map for ``intent`` and how vague it is (:func:`vagueness`, at the model's resolution).

        Shapes:
            x: ``[B, 3, H, W]`` → soft ``[B, 1, H, W]`` in [0, 1], phrases, used_query, vagueness ``[B]``.
        """
        b, _, h, w = x.shape
        if not intent or not intent.strip():
            return x.new_ones(b, 1, h, w), [], False, torch.zeros(b)
        logits = self.model(x.to(self.device), [intent] * b)
        soft = torch.sigmoid(logits.float())
        vague = vagueness(soft).cpu()
        soft = torch.nn.functional.interpolate(soft, size=(h, w), mode="bilinear", align_corners=False)
        return soft.to(x.device), [intent.strip()], True, vague

    def predict(self, x, intent, csi):
        soft, phrases, used_query, _ = self.answer(x, intent)
        return soft, phrases, used_query

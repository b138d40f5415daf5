"""What the receiver does with what arrived: answer a question about it (``tiny-vqa``, ``oracle``).

>>> from mllmsc.tasks import ANSWERERS
>>> answerer = ANSWERERS.build("tiny-vqa")                    # shipped weights
>>> answerer(x_hat, ["what colour is the ring?"])            # x_hat: [B, 3, H, W] in [0, 1]
[Answer(text='purple', confidence=0.97, answerer='tiny-vqa', reason='')]

A task reads the received image and the intent; it never reaches into the codec. Factories import
their module on first use, so ``import mllmsc.tasks`` stays cheap.

========= =====================================================================================
name      what
========= =====================================================================================
tiny-vqa  the embedded answerer trained by this project on generated AR scenes
oracle    the scene's ground-truth answer (``truth={question: answer}``), to check the harness
llava     a local LLaVA answers in free text, normalised to the scene vocabulary ("Two." → "2")
========= =====================================================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mllmsc.registry import Registry

if TYPE_CHECKING:
    from mllmsc.tasks.vqa import Answerer

ANSWERERS: Registry[Answerer] = Registry("answerer")


@ANSWERERS.register("tiny-vqa")
def _tiny_vqa(**kwargs: Any) -> Answerer:
    """TinyVQA (``weights``: a model folder, default the shipped one; ``device``)."""
    from mllmsc.tasks.vqa import TinyVQAAnswerer

    return TinyVQAAnswerer(**kwargs)


@ANSWERERS.register("oracle")
def _oracle(**kwargs: Any) -> Answerer:
    """The ground truth (``truth``: question → answer)."""
    from mllmsc.tasks.vqa import OracleAnswerer

    return OracleAnswerer(**kwargs)


@ANSWERERS.register("llava")
def _llava(**kwargs: Any) -> Answerer:
    """LLaVA from local weights (``model`` or ``weights``: folder or cached hub id; ``device``, ``dtype``)."""
    from mllmsc.tasks.vqa import LlavaAnswerer

    if "weights" in kwargs:  # the name every answerer's folder option has (--answerer-weights)
        kwargs["model"] = kwargs.pop("weights")
    return LlavaAnswerer(**kwargs)


__all__ = ["ANSWERERS"]

"""Answerers: ``answerer(x_hat, questions) -> [Answer]`` at the receiver (see :mod:`mllmsc.tasks`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from mllmsc.errors import UserError
from mllmsc.tasks.answers import normalise_answer, question_kind


@dataclass(frozen=True)
class Answer:
    """One answer.

    Attributes:
        text: the answer in the scene vocabulary (``"red"``, ``"2"``, ``"top left"``), or ``None``
            when the answerer gave none that can be read.
        confidence: the answerer's probability for it in [0, 1] (``None`` if it has none).
        answerer: registry name of the answerer.
        reason: why ``text`` is ``None`` (empty otherwise).
    """

    text: str | None
    confidence: float | None
    answerer: str
    reason: str = ""


class Answerer:
    """Answers questions about received images. Subclasses set :attr:`name`, implement :meth:`answer`."""

    name: str = ""

    def __call__(self, x_hat: torch.Tensor, questions: list[str]) -> list[Answer]:
        """One answer per image and question.

        Shapes:
            x_hat: ``[B, 3, H, W]`` float in [0, 1]; ``len(questions) == B``.

        Raises:
            UserError: a wrong shape or a question count that does not match the images.
        """
        if not isinstance(x_hat, torch.Tensor) or x_hat.dim() != 4 or x_hat.shape[1] != 3:
            shape = tuple(x_hat.shape) if isinstance(x_hat, torch.Tensor) else type(x_hat).__name__
            raise UserError(f"{self.name}: images must be a tensor [B, 3, H, W], got {shape}")
        if len(questions) != x_hat.shape[0]:
            raise UserError(f"{self.name}: {x_hat.shape[0]} images but {len(questions)} questions")
        return self.answer(x_hat, list(questions))

    def answer(self, x_hat: torch.Tensor, questions: list[str]) -> list[Answer]:
        raise NotImplementedError


class TinyVQAAnswerer(Answerer):
    """The shipped (or given) :class:`~mllmsc.tasks.tiny_vqa_model.TinyVQA`.

    A question whose kind it cannot tell (not one the scene generator asks) gets ``text=None``
    with the reason, rather than a guess from all classes.

    Args:
        weights: a TinyVQA folder; default: the shipped ``tiny-vqa``.
        device: where the model runs (the caller moves nothing else).
    """

    name = "tiny-vqa"

    def __init__(self, weights: str | Path | None = None, device: str | torch.device = "cpu") -> None:
        from mllmsc.tasks.tiny_vqa_model import TinyVQA
        from mllmsc.weights import weights_path

        folder = weights if weights is not None else weights_path("tiny-vqa")
        self.model = TinyVQA.from_pretrained(folder).to(device).eval()

    def answer(self, x_hat: torch.Tensor, questions: list[str]) -> list[Answer]:
        known = [i for i, q in enumerate(questions) if question_kind(q) is not None]
        out = [
            Answer(None, None, self.name, f"not a question about colour, shape, count or place: {q[:60]!r}")
            for q in questions
        ]
        if known:
            device = next(self.model.parameters()).device
            picked = self.model.answer(x_hat[known].to(device), [questions[i] for i in known])
            for i, (text, confidence) in zip(known, picked, strict=True):
                out[i] = Answer(text, confidence, self.name)
        return out


class OracleAnswerer(Answerer):
    """The ground truth, whatever arrived: checks the harness (its accuracy must be 1).

    Args:
        truth: question → answer, for the questions it will be asked.
    """

    name = "oracle"

    def __init__(self, truth: dict[str, str] | None = None) -> None:
        self.truth = dict(truth or {})

    def answer(self, x_hat: torch.Tensor, questions: list[str]) -> list[Answer]:
        out = []
        for q in questions:
            if q in self.truth:
                out.append(Answer(self.truth[q], 1.0, self.name))
            else:
                out.append(Answer(None, None, self.name, "no ground truth for this question"))
        return out


def answer_from_text(text: str, question: str, answerer: str) -> Answer:
    """A free-text reply (a VLM's) as an :class:`Answer` in the scene vocabulary, or ``None`` + reason."""
    normalised = normalise_answer(text, question_kind(question))
    return Answer(normalised.answer, None, answerer, normalised.reason)


#: How a question of each kind asks the VLM to answer (short replies normalise reliably).
_ANSWER_FORMS = {
    "colour": "Answer with one colour word.",
    "shape": "Answer with one shape name.",
    "count": "Answer with a number.",
    "where": "Answer with the part of the image: top left, top, top right, left, centre, right, "
    "bottom left, bottom or bottom right.",
    None: "Answer in as few words as possible.",
}


def vlm_prompt(question: str) -> str:
    """The question as put to a VLM: the question, then the form of answer its kind needs."""
    return f"{question.strip()} {_ANSWER_FORMS[question_kind(question)]}"


class LlavaAnswerer(Answerer):
    """A local LLaVA answers in free text; the reply is normalised to the scene vocabulary.

    Args:
        model: LLaVA folder or cached hub id (default ``llava-hf/llava-1.5-7b-hf``).
        device, dtype, max_new_tokens: see :class:`~mllmsc.vlm.LocalVLM`.

    Attributes:
        last_replies: the raw replies of the last call (for reports and debugging).
    """

    name = "llava"

    def __init__(
        self,
        model: str | Path | None = None,
        device: str = "cpu",
        dtype: str | torch.dtype | None = None,
        max_new_tokens: int = 16,
    ) -> None:
        from mllmsc.vlm import LocalVLM

        self.vlm = LocalVLM(
            model, device=device, dtype=dtype, max_new_tokens=max_new_tokens, option="--answerer-weights"
        )
        self.last_replies: list[str] = []

    def answer(self, x_hat: torch.Tensor, questions: list[str]) -> list[Answer]:
        from mllmsc.data.io import images_to_pil

        images = images_to_pil(x_hat)
        self.last_replies = [
            self.vlm.ask(image, vlm_prompt(q)) for image, q in zip(images, questions, strict=True)
        ]
        return [answer_from_text(r, q, self.name) for r, q in zip(self.last_replies, questions, strict=True)]

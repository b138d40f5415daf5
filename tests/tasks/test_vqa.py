"""Answerers: the registry, the one call, answers inside the question's vocabulary, clear refusals."""

import pytest
import torch

from mllmsc.errors import UserError
from mllmsc.tasks import ANSWERERS
from mllmsc.tasks.answers import VOCABULARY, question_kind
from mllmsc.tasks.vqa import Answer, answer_from_text

QUESTIONS = [
    "what colour is the ring?",
    "how many squares are there?",
    "what shape is at the top right?",
    "where is the blue heart?",
]


def test_tiny_vqa_answers_inside_each_question_kind(tiny_vqa_dir):
    answerer = ANSWERERS.build("tiny-vqa", weights=tiny_vqa_dir)
    answers = answerer(torch.rand(4, 3, 64, 64), QUESTIONS)
    assert [a.answerer for a in answers] == ["tiny-vqa"] * 4
    for question, answer in zip(QUESTIONS, answers, strict=True):
        assert answer.text in VOCABULARY[question_kind(question)]
        assert 0 < answer.confidence <= 1 and answer.reason == ""


def test_a_question_of_no_known_kind_gets_none_with_a_reason(tiny_vqa_dir):
    answerer = ANSWERERS.build("tiny-vqa", weights=tiny_vqa_dir)
    a, b = answerer(torch.rand(2, 3, 64, 64), ["is the sky blue or is it the sea?", QUESTIONS[0]])
    assert a.text is None and "not a question about" in a.reason
    assert b.text in VOCABULARY["colour"]


def test_oracle_returns_the_truth_and_says_when_it_has_none():
    oracle = ANSWERERS.build("oracle", truth={QUESTIONS[0]: "red"})
    got = oracle(torch.zeros(2, 3, 8, 8), [QUESTIONS[0], QUESTIONS[1]])
    assert got[0] == Answer("red", 1.0, "oracle")
    assert got[1].text is None and "no ground truth" in got[1].reason


def test_bad_input_is_a_user_error(tiny_vqa_dir):
    answerer = ANSWERERS.build("tiny-vqa", weights=tiny_vqa_dir)
    with pytest.raises(UserError, match=r"\[B, 3, H, W\]"):
        answerer(torch.rand(3, 64, 64), QUESTIONS[:1])
    with pytest.raises(UserError, match="2 images but 1 questions"):
        answerer(torch.rand(2, 3, 64, 64), QUESTIONS[:1])
    with pytest.raises(UserError, match="unknown answerer"):
        ANSWERERS.build("telepathy")
    with pytest.raises(UserError, match="config.json"):
        ANSWERERS.build("tiny-vqa", weights=tiny_vqa_dir / "nowhere")


def test_free_text_replies_become_answers_or_reasons():
    assert answer_from_text("There are two.", QUESTIONS[1], "llava") == Answer("2", None, "llava")
    unclear = answer_from_text("Maybe red, maybe orange", QUESTIONS[0], "llava")
    assert unclear.text is None and "ambiguous" in unclear.reason

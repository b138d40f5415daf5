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
    with pytest.raises(UserError, match="does not exist"):
        ANSWERERS.build("tiny-vqa", weights=tiny_vqa_dir / "nowhere")


def test_free_text_replies_become_answers_or_reasons():
    assert answer_from_text("There are two.", QUESTIONS[1], "llava") == Answer("2", None, "llava")
    unclear = answer_from_text("Maybe red, maybe orange", QUESTIONS[0], "llava")
    assert unclear.text is None and "ambiguous" in unclear.reason


def test_llava_answers_through_from_pretrained_and_its_replies_are_normalised(llava_dir):
    answerer = ANSWERERS.build("llava", weights=str(llava_dir), dtype="float32", max_new_tokens=3)
    questions = ["how many squares are there?", "what colour is the ring?"]
    answers = answerer(torch.rand(2, 3, 40, 40, generator=torch.Generator().manual_seed(0)), questions)
    assert len(answerer.last_replies) == 2 and [a.answerer for a in answers] == ["llava", "llava"]
    for question, reply, answer in zip(questions, answerer.last_replies, answers, strict=True):
        # a random tiny model says words of its vocabulary: whatever it says is read, or refused
        assert answer == answer_from_text(reply, question, "llava")
        assert answer.text is None or answer.text in VOCABULARY[question_kind(question)]


def test_vlm_prompts_ask_for_the_form_of_answer_the_kind_needs():
    from mllmsc.tasks.vqa import vlm_prompt

    assert vlm_prompt("how many squares are there?").endswith("Answer with a number.")
    assert "top left" in vlm_prompt("where is the blue heart?")


def test_a_missing_llava_says_what_to_download(tmp_path):
    with pytest.raises(UserError, match="--answerer-weights"):
        ANSWERERS.build("llava", weights=str(tmp_path / "no-llava"))

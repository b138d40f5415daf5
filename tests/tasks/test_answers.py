"""Free-text answers onto the scene vocabulary: many styles in, one word out, or a reason."""

import pytest

from mllmsc.data.scenes import COLOURS, SHAPES, generate_scene
from mllmsc.tasks.answers import ALL_ANSWERS, VOCABULARY, normalise_answer, question_kind


@pytest.mark.parametrize(
    ("text", "kind", "want"),
    [
        ("Two.", "count", "2"),
        ("2", "count", "2"),
        ("There are 2 circles", "count", "2"),
        ("I can see three squares in the image.", "count", "3"),
        ("It's red", "colour", "red"),
        ("RED", "colour", "red"),
        ("The ring is violet.", "colour", "purple"),
        ("color: Blue", "colour", "blue"),
        ("In the upper-left corner", "where", "top left"),
        ("bottom right", "where", "bottom right"),
        ("It is in the center of the image", "where", "centre"),
        ("middle left", "where", "left"),
        ("At the top.", "where", "top"),
        ("The shape is a star.", "shape", "star"),
        ("a heart", "shape", "heart"),
        ("It looks like a doughnut", "shape", "ring"),
        ("circles", "shape", "circle"),
    ],
)
def test_answer_styles_map_onto_the_vocabulary(text, kind, want):
    got = normalise_answer(text, kind)
    assert got.answer == want and got.reason == ""
    assert want in VOCABULARY[kind]


@pytest.mark.parametrize(
    ("text", "kind", "reason"),
    [
        ("red or orange", "colour", "ambiguous"),
        ("", "colour", "empty"),
        ("I cannot tell.", "colour", "no colour answer"),
        ("seven", "count", "outside"),
        ("It is red", "count", "no count answer"),  # a colour is no count
    ],
)
def test_unusable_answers_are_none_with_a_reason(text, kind, reason):
    got = normalise_answer(text, kind)
    assert got.answer is None and reason in got.reason


def test_question_kinds_of_every_generated_question():
    """Every question the scene generator asks has a kind, and its answer is in that vocabulary."""
    seen = set()
    for i in range(30):
        for e in generate_scene(5, i, size=96).expressions:
            if e.type == "question":
                assert question_kind(e.text) == e.subtype, e.text
                assert e.answer in VOCABULARY[e.subtype]
                assert normalise_answer(e.answer, e.subtype).answer == e.answer
                seen.add(e.subtype)
    assert seen == {"colour", "count", "shape", "where"}


def test_the_vocabulary_covers_the_scene_generator():
    assert set(VOCABULARY["colour"]) == set(COLOURS) and set(VOCABULARY["shape"]) == set(SHAPES)
    assert len(ALL_ANSWERS) == len(set(ALL_ANSWERS))  # one class per answer

"""Phrase extraction from intents and parsing of LLM answers."""

import pytest

from mllmsc.guidance.phrases import extract_phrases, parse_answer


@pytest.mark.parametrize(
    "intent, expected",
    [
        ("Focus on the small red triangle, please!", ["small red triangle"]),
        ("what colour is the ring?", ["ring"]),
        ("What color are the purple circles", ["purple circles"]),
        ("How many squares are there?", ["squares"]),
        ("I need to see the dog and the red car", ["dog", "red car"]),
        ("the star left of the blue circle", ["star left of the blue circle"]),
        ("Could you please zoom in on the license plate", ["license plate"]),
        ("where is the blue heart?", ["blue heart"]),
        ("What is the colour of the car?", ["car"]),
        ("make sure the red star arrives sharp", ["red star"]),
        ("the orange cross is what matters", ["orange cross"]),
        ("what shape is at the top right?", ["object at the top right"]),
        ("which object is in the centre?", ["object in the centre"]),
        ("count the stars", ["stars"]),
        ("Is there a cat in the image?", ["cat"]),
        ("", []),
        (None, []),
        ("???", []),
    ],
)
def test_extract_phrases(intent, expected):
    assert extract_phrases(intent) == expected


@pytest.mark.parametrize(
    "answer, expected",
    [
        ("1. The red car\n2. The pedestrian (crossing the road)", ["red car", "pedestrian"]),
        ("1) face 2) hands", ["face", "hands"]),
        ("- the dog\n- a frisbee", ["dog", "frisbee"]),
        ("• the small yellow triangle\n• the ring", ["small yellow triangle", "ring"]),
        ("red car, tree, person", ["red car", "tree", "person"]),
        ("car; bus; bicycle", ["car", "bus", "bicycle"]),
        ("The receiver needs the red car and the traffic light.", ["red car", "traffic light"]),
        (
            "Sure! The most important objects are the ring and the square because the user asks.",
            ["ring", "square"],
        ),
        ("The receiver should see the stop sign, which shows the rule.", ["stop sign"]),
        ("**Objects:** \"red ring\", 'blue star'", ["red ring", "blue star"]),
        ("ASSISTANT: the person on the left - they are the subject", ["person on the left"]),
        ("```\nstar\n```", ["star"]),
        ("The ring.", ["ring"]),
        ("blue circle, blue circle, BLUE CIRCLE", ["blue circle"]),
        ("a, b, c, d, e, f", ["a", "b", "c", "d"]),  # capped at max_phrases
        ("None", []),
        ("???", []),
        ("I cannot determine that.", []),
        ("", []),
        (None, []),
    ],
)
def test_parse_answer(answer, expected):
    assert parse_answer(answer) == expected


def test_parse_answer_drops_overlong_junk():
    junk = "this is a very long rambling sentence with no list in it at all whatsoever"
    assert parse_answer(junk) == []

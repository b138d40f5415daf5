"""Scene styles: other renderings and wordings of the same content, with the same masks and answers."""

import numpy as np
import pytest

from mllmsc.data.scene_styles import (
    HELDOUT_WRAPPERS,
    LEXICON,
    STYLES,
    VARIED_WRAPPERS,
    phrase_heldout,
    phrase_varied,
)
from mllmsc.data.scenes import generate_scene
from mllmsc.errors import UserError
from mllmsc.guidance.tiny_refseg_model import tokenize


@pytest.mark.parametrize("style", ["varied", "heldout"])
def test_a_style_changes_pixels_and_words_but_not_the_content(style):
    for i in range(6):
        plain = generate_scene(3, i, size=96)
        styled = generate_scene(3, i, size=96, style=style)
        assert styled.image.shape == plain.image.shape and styled.image.dtype == np.uint8
        assert np.abs(styled.image.astype(int) - plain.image.astype(int)).mean() > 1.0
        assert [(o.shape, o.colour, o.size) for o in styled.objects] == [
            (o.shape, o.colour, o.size) for o in plain.objects
        ]
        for a, b in zip(plain.expressions, styled.expressions, strict=True):
            assert np.array_equal(a.mask, b.mask) and (a.answer, a.targets, a.type) == (
                b.answer,
                b.targets,
                b.type,
            )


@pytest.mark.parametrize("style", STYLES)
def test_styles_are_deterministic(style):
    a, b = generate_scene(4, 2, size=64, style=style), generate_scene(4, 2, size=64, style=style)
    assert np.array_equal(a.image, b.image)
    assert [e.text for e in a.expressions] == [e.text for e in b.expressions]


def test_the_standard_style_is_the_generator_itself():
    a, b = generate_scene(4, 2, size=64), generate_scene(4, 2, size=64, style="standard")
    assert np.array_equal(a.image, b.image) and [e.text for e in a.expressions] == [
        e.text for e in b.expressions
    ]


def test_unknown_style_is_a_user_error():
    with pytest.raises(UserError, match="scene style must be one of"):
        generate_scene(0, 0, size=64, style="cartoon")


def test_objects_keep_their_colour_under_a_style():
    """The varied and held-out renderings light and texture an object, but red stays reddest in R."""
    for style in ("varied", "heldout"):
        for i in range(8):
            scene = generate_scene(9, i, size=128, style=style)
            for obj in scene.objects:
                inner = obj.visible & ~np.roll(~obj.visible, 3, axis=0) & ~np.roll(~obj.visible, -3, axis=1)
                if obj.colour == "red" and inner.sum() > 30:
                    r, g, b = scene.image[inner].astype(float).mean(0)
                    assert r > g + 40 and r > b + 40


def test_rewording_keeps_the_content_words_and_uses_only_its_own_wrappers():
    rng = np.random.default_rng(0)
    synonyms = {w for words in LEXICON.values() for w in words}
    for _ in range(200):
        text = "what colour is the small ring in the top left corner?"
        varied = phrase_varied(text, rng)
        assert varied.endswith("?") and ("ring" in varied or "donut" in varied or "hoop" in varied)
        held = phrase_heldout(text, rng).lower()
        assert any(w in held for w in ("small", "little", "tiny"))
    varied_words = {w for p in VARIED_WRAPPERS for w in tokenize(" ".join(p))}
    held_words = {w for p in HELDOUT_WRAPPERS for w in tokenize(" ".join(p))}
    assert varied_words and held_words and not varied_words & held_words  # no frame shared
    assert not synonyms & (varied_words | held_words)

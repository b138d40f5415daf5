"""The answer vocabulary of scene questions, and free text mapped onto it.

A VLM answers in sentences ("There are 2 circles.", "It's red", "In the upper-left corner"); the
scene's ground truth is one word or place ("2", "red", "top left"). :func:`normalise_answer`
maps the first onto the second, within the vocabulary of the question's kind, so answers of
different answerers are compared on the same terms::

    "what colour is the ring?"  ──► question_kind ──► "colour" ──► vocabulary: red, green, ...
    "It's RED."  ──► lower-case, spelling (color → colour, grey → …), number words ──► "red"

A reply that names no word of the vocabulary, or two different ones ("red or orange"), is not
guessed at: the result is ``None`` with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mllmsc.data.scenes import COLOURS, SHAPES

#: Places on the 3×3 grid as scene answers name them (longest first, so "top left" wins over "top").
PLACES = ("top left", "top right", "bottom left", "bottom right", "top", "bottom", "left", "right", "centre")
#: Counts a scene can ask for (1 to 6 objects).
COUNTS = tuple(str(n) for n in range(1, 7))
#: Question kind → the answers it allows.
VOCABULARY: dict[str, tuple[str, ...]] = {
    "colour": tuple(COLOURS),
    "shape": SHAPES,
    "count": COUNTS,
    "where": PLACES,
}
#: Every answer, in a fixed order (the classes of a classifier over all kinds).
ALL_ANSWERS: tuple[str, ...] = tuple(
    a for kind in ("colour", "shape", "count", "where") for a in VOCABULARY[kind]
)

_NUMBER_WORDS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10", "single": "1", "pair": "2",
}  # fmt: skip
_SPELLING = {
    "color": "colour", "colors": "colours", "center": "centre", "middle": "centre", "upper": "top",
    "lower": "bottom", "violet": "purple", "circular": "circle", "round": "circle", "squares": "square",
    "circles": "circle", "triangles": "triangle", "stars": "star", "rings": "ring", "crosses": "cross",
    "hearts": "heart", "triangular": "triangle", "donut": "ring", "doughnut": "ring", "annulus": "ring",
    "plus": "cross",
}  # fmt: skip
# Grid cells a reply may name with two words where the scene uses one ("middle left" is "left").
_PLACE_PHRASES = {
    "centre left": "left", "left centre": "left", "centre right": "right", "right centre": "right",
    "top centre": "top", "centre top": "top", "bottom centre": "bottom", "centre bottom": "bottom",
    "left top": "top left", "right top": "top right", "left bottom": "bottom left",
    "right bottom": "bottom right",
}  # fmt: skip
_WORD = re.compile(r"[a-z0-9]+")


def question_kind(question: str) -> str | None:
    """``colour``, ``count``, ``shape`` or ``where`` for a scene question; ``None`` if unknown.

    >>> question_kind("How many red objects are there?")
    'count'
    """
    words = [_SPELLING.get(w, w) for w in _words(question)]
    text = " ".join(words)
    if text.startswith("how many") or words[:1] == ["count"]:
        return "count"
    if "colour" in words:
        return "colour"
    if words[:1] == ["where"] or "which part" in text:
        return "where"
    if "shape" in words or text.startswith("what is the"):
        return "shape"
    return None


@dataclass(frozen=True)
class Normalised:
    """A free-text answer mapped onto the vocabulary.

    Attributes:
        answer: the vocabulary word, or ``None`` when the text names none, or several.
        reason: why it is ``None`` (empty when ``answer`` is set).
    """

    answer: str | None
    reason: str = ""


def normalise_answer(text: str, kind: str | None) -> Normalised:
    """Map a free-text reply onto the answers of a question ``kind`` (all answers when ``None``).

    Args:
        text: what the answerer said.
        kind: a key of :data:`VOCABULARY`, or ``None``.

    Examples:
        >>> normalise_answer("There are 2 circles.", "count").answer
        '2'
        >>> normalise_answer("In the upper-left corner", "where").answer
        'top left'
    """
    vocabulary = VOCABULARY.get(kind, ALL_ANSWERS) if kind is not None else ALL_ANSWERS
    words = [_NUMBER_WORDS.get(w, _SPELLING.get(w, w)) for w in _words(text)]
    if not words:
        return Normalised(None, "empty answer")
    found: list[str] = []
    text_norm = f" {' '.join(words)} "
    for phrase, place in _PLACE_PHRASES.items():
        text_norm = text_norm.replace(f" {phrase} ", f" {place} ")
    # Longest vocabulary entries first, each match blanked out: "top left" is not also "top".
    for entry in sorted(vocabulary, key=len, reverse=True):
        needle = f" {entry} "
        if needle in text_norm:
            found.append(entry)
            text_norm = text_norm.replace(needle, " ")
    if kind == "count" and not found:
        numbers = [w for w in words if w.isdigit()]
        if numbers:
            return Normalised(None, f"count {numbers[0]} is outside the scene's range 1-6")
    distinct = sorted(set(found), key=found.index)
    if not distinct:
        return Normalised(None, f"no {kind or 'known'} answer in {text.strip()[:80]!r}")
    if len(distinct) > 1:
        return Normalised(None, f"ambiguous: names {', '.join(distinct)}")
    return Normalised(distinct[0])


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("-", " "))

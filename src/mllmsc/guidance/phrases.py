"""From free text to the short noun phrases a text-conditioned segmenter (CLIPSeg) can map.

Two directions of the same problem:

* :func:`extract_phrases` reads the user's **intent** ("focus on the red car", "what colour is the
  ring?", "how many squares are there?") and returns what it is about (``["red car"]``,
  ``["ring"]``, ``["squares"]``). Rules, in order:

  1. lower-case; drop quotes and the final ``?``/``!``/``.``; split into clauses on ``;`` and
     sentence ends;
  2. strip leading courtesy and request words, repeatedly: "please", "can/could/would you",
     "I need/want/would like to see", "show me", "focus on", "look at", "zoom in on", "highlight",
     "find", "send", "keep", "make sure", "where is/are", "is there", "are there", "do you see";
  3. strip leading question heads whose answer is an attribute of the object: "what colour/color
     is/are", "what is the colour of", "what shape is", "how many", "what kind of", "which", "what
     is", "what's", "who is", "tell me about", "describe";
  4. strip trailing filler: "are there", "is there", "can you see", "do you see", "in the
     image/picture/photo/scene", "please", "clearly", "sharp(ly)", "arrives ...", "is";
  5. split coordinated phrases on ``,`` / " and " / " or " (but not inside a relation such as
     "the star left of the blue circle", which is kept whole);
  6. drop leading articles ("the", "a", "an", "this", "that", "some", "any"); a phrase that
     starts with a location ("at the top right") becomes "object at the top right"; drop
     phrases with no letters or that are only stop words.

* :func:`parse_answer` reads a multimodal LLM's **answer** to "which objects does the receiver
  need?" and returns its phrases. It accepts numbered lists (``1.``, ``1)``, ``(1)``), bullets
  (``-``, ``*``, ``•``), comma/semicolon lists, "X and Y", label lines ("Objects: a, b"), full
  sentences with lead-ins ("The receiver needs the red car and the person."), quotes, markdown
  emphasis and code fences. Each item loses explanations (after " - ", ":", " because ",
  " since ", " which ", " that ", " to ", " so ", parentheses), articles and filler; items that
  are empty, junk (no letters, over 8 words, "none", "nothing", "n/a", "the image", ...) or
  repeated are dropped; at most ``max_phrases`` are returned, in the order given.
"""

from __future__ import annotations

import re

__all__ = ["extract_phrases", "parse_answer", "clean_phrase"]

_REQUEST = [
    r"please",
    r"(?:can|could|would|will) you(?: please)?",
    r"i (?:really )?(?:need|want|would like|'d like|wish|have) to (?:see|know|check|look at|find)",
    r"i (?:need|want|would like|'d like)",
    r"(?:let me|help me) (?:see|find|look at)",
    r"(?:show|give|send) (?:me|us)",
    r"focus(?:ing)? on",
    r"concentrate on",
    r"look(?:ing)? at",
    r"zoom(?: in)?(?: on)?",
    r"highlight",
    r"find",
    r"locate",
    r"segment",
    r"send",
    r"show",
    r"keep",
    r"make sure(?: that)?",
    r"where (?:is|are|'s)",
    r"is there",
    r"are there",
    r"do you see",
    r"can you see",
    r"see",
    r"tell me about",
    r"describe",
    r"check",
    r"count",
]
_QUESTION = [
    r"what (?:colou?r|shade) (?:is|are|'s)",
    r"which colou?r (?:is|are|has)",
    r"what (?:is|'s) the colou?r of",
    r"what (?:shape|kind of shape|form) (?:is|are|'s)",
    r"what (?:is|'s) the shape of",
    r"how many",
    r"what kind of",
    r"what type of",
    r"what sort of",
    r"which (?:\w+ )?(?:is|are)",
    r"which",
    r"what (?:is|are|'s)",
    r"what",
    r"who (?:is|are|'s)",
    r"is it",
]
_TRAILING = [
    r"are there",
    r"is there",
    r"(?:can|do) (?:you|i) see",
    r"(?:are|is) (?:visible|shown|present)",
    r"(?:in|on) (?:the|this) (?:image|picture|photo|scene|frame|view)",
    r"please",
    r"clearly",
    r"sharp(?:ly)?",
    r"arrives?(?: \w+)*",
    r"(?:is|are) (?:what matters|important)",
    r"for me",
    r"is",
    r"are",
    r"there",
]
_ARTICLES = r"(?:the|a|an|this|that|these|those|some|any|my|our|all(?: the)?)"
_LOCATION_START = re.compile(r"^(?:at|in|on|near|to|towards?) (?:the )?")
_RELATION = re.compile(
    r"\b(?:left of|right of|above|below|under|beneath|next to|beside|behind|in front of|on top of|"
    r"near|between|covering|inside)\b"
)
_STOP = {
    "",
    "it",
    "them",
    "this",
    "that",
    "there",
    "thing",
    "things",
    "object",
    "objects",
    "something",
    "anything",
    "everything",
    "image",
    "picture",
    "photo",
    "scene",
    "none",
    "nothing",
    "n/a",
    "na",
    "no",
    "yes",
    "unknown",
    "whole image",
    "entire image",
    "the image",
    "all",
    "region",
    "regions",
    "area",
    "areas",
}


def _compile(alternatives: list[str], *, leading: bool) -> re.Pattern[str]:
    body = "|".join(alternatives)
    return re.compile(rf"^(?:{body})\b\s*" if leading else rf"\s*\b(?:{body})$")


_REQUEST_RE = _compile(_REQUEST, leading=True)
_QUESTION_RE = _compile(_QUESTION, leading=True)
_TRAILING_RE = _compile(_TRAILING, leading=False)
_ARTICLE_RE = re.compile(rf"^{_ARTICLES}\s+")


def _normalise(text: str) -> str:
    text = text.lower().replace("’", "'").replace("`", "'")
    text = re.sub(r"[\"“”«»*_#]", " ", text)
    text = re.sub(r"(?<![a-z])'|'(?![a-z])", " ", text)  # quotes, not apostrophes
    return " ".join(text.split())


def clean_phrase(text: str) -> str:
    """One phrase without articles, courtesy words and punctuation; ``""`` when nothing is left."""
    text = _normalise(text)
    text = re.sub(r"[^a-z0-9' /-]+", " ", text)
    text = " ".join(text.split())
    for _ in range(4):
        before = text
        text = _TRAILING_RE.sub("", text).strip()
        text = _ARTICLE_RE.sub("", text).strip()
        if text == before:
            break
    if _LOCATION_START.match(text):
        text = "object " + text
    return "" if text in _STOP or not re.search(r"[a-z]", text) else text


def _split_coordination(text: str) -> list[str]:
    """Split "a, b and c" into items, but keep a relation ("x left of y and z") whole."""
    if _RELATION.search(text):
        return [text]
    parts = re.split(r",|;|\band\b|\bor\b|&|\bplus\b|\bas well as\b", text)
    return [p for p in (p.strip() for p in parts) if p]


def extract_phrases(intent: str | None, *, max_phrases: int = 4) -> list[str]:
    """The noun phrases an intent is about (see the module docstring for the rules).

    >>> extract_phrases("Focus on the small red triangle, please!")
    ['small red triangle']
    >>> extract_phrases("what colour is the ring?")
    ['ring']
    >>> extract_phrases("How many squares are there?")
    ['squares']
    >>> extract_phrases("I need to see the dog and the red car")
    ['dog', 'red car']
    """
    if not intent or not intent.strip():
        return []
    phrases: list[str] = []
    for clause in re.split(r"[.?!;:\n]+", _normalise(intent)):
        text = clause.strip(" ,")
        for _ in range(4):  # "could you please focus on ..." peels several layers
            before = text
            text = _REQUEST_RE.sub("", text).strip(" ,")
            text = _QUESTION_RE.sub("", text).strip(" ,")
            text = _ARTICLE_RE.sub("", text).strip(" ,")
            if text == before:
                break
        for part in _split_coordination(text):
            phrase = clean_phrase(part)
            if phrase and phrase not in phrases:
                phrases.append(phrase)
    return phrases[:max_phrases]


_LIST_MARK = re.compile(r"^\s*(?:\(?\d{1,2}[.):]|\(?[a-h][.)]\s|[-*•·+>]|step \d+:?)\s*")
_LEAD_IN = re.compile(
    r"^(?:(?:sure|okay|ok|yes|well|answer|assistant)[,:!.]?\s+)*"
    r"(?:(?:i think|i would say|in my opinion|based on the image|based on the request),?\s+)?"
    r"(?:(?:the )?(?:receiver|user|viewer|they|you|it)\s+(?:mostly |mainly |only |really )?"
    r"(?:needs?|requires?|should (?:see|get|receive)|must (?:see|get|receive)|wants?)"
    r"(?: to (?:see|get|receive|know))?(?: about)?|"
    r"(?:the )?(?:most )?(?:important|relevant|key|essential|needed|required)\s+"
    r"(?:objects?|regions?|parts?|things?|items?|areas?|elements?)"
    r"(?: (?:of|in) the image)?(?: (?:are|is|would be|include))?|"
    r"(?:objects?|regions?|targets?|items?|answer|phrases?|list)\s*(?:are|is)?|"
    r"(?:focus on|send|prioriti[sz]e|keep|transmit))\s*:?\s*"
)
_EXPLANATION = re.compile(
    r"\s+(?:-|–|—)\s+.*$|:\s.*$|\s*\(.*?\)|\s*\(.*$|"
    r"(?:^|\s+)\b(?:because|since|as it|as they|which|that|who|so that|so|to answer|to see|to show|to "
    r"determine|to identify|in order|for the|for answering|if)\b.*$"
)
_JUNK = re.compile(
    r"^(?:none|nothing|n/?a|no objects?|not sure|sure|okay|ok|yes|no|hmm+|well|"
    r"i (?:don't|do not|cannot|can't)\b.*)$"
)


def parse_answer(answer: str | None, *, max_phrases: int = 4) -> list[str]:
    """Phrases named in an LLM's answer, robust to lists, sentences, quotes and junk.

    >>> parse_answer("1. The red car\\n2. The pedestrian (crossing the road)")
    ['red car', 'pedestrian']
    >>> parse_answer("The receiver needs the red car and the traffic light.")
    ['red car', 'traffic light']
    >>> parse_answer("")
    []
    """
    if not answer or not answer.strip():
        return []
    text = re.sub(r"```[a-z]*", "\n", answer)
    text = text.replace("**", "").replace("__", "")
    text = re.sub(r"(?<=\S)[ \t]+\(?\d{1,2}[.)][ \t]+", "\n", text)  # "1) a 2) b" inline
    text = re.sub(r"(?im)^\s*(?:assistant|answer|response|output)\s*:\s*", "", text)
    lines = [ln.strip() for ln in re.split(r"[\r\n]+", text) if ln.strip()]
    items: list[str] = []
    for line in lines:
        line = _LIST_MARK.sub("", line)
        # A label line ("Objects: a, b"): the list is after the colon.
        label = re.match(r"^[\w ]{1,30}:\s*(.+)$", line)
        if label and not _LIST_MARK.match(line):
            head = line.split(":", 1)[0].lower()
            if re.search(r"objects?|regions?|targets?|answer|items?|phrases?|list|important|focus", head):
                line = label.group(1)
        for sentence in re.split(r"(?<=[a-z0-9)\"'])[.!?;]+(?:\s+|$)", line):
            sentence = _normalise(sentence).strip(" .,;:!?")
            sentence = _LEAD_IN.sub("", sentence)
            if _JUNK.match(sentence):
                continue
            for part in _split_coordination(sentence):
                part = _EXPLANATION.sub("", part)
                part = _LEAD_IN.sub("", part)
                phrase = clean_phrase(part)
                if not phrase or _JUNK.match(phrase) or len(phrase.split()) > 8:
                    continue
                if phrase not in items:
                    items.append(phrase)
    return items[:max_phrases]

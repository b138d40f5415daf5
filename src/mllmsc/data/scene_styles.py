"""Scene styles: the same scene rendered and phrased differently, for robust guidance and a fair test.

:func:`mllmsc.data.scenes.generate_scene` draws a scene's content (background, objects, masks,
expressions) once; a *style* only changes how it looks and how its expressions are worded. The
masks, targets and answers stay those of the content, so one scene in two styles is a paired
comparison. Three styles::

    standard ─ flat fills with a little noise, hard (aliased) edges, the generator's own templates
    varied   ─ the training augmentation: per-object colour jitter, shading gradients, soft
               (anti-aliased) edges, global brightness/contrast/tint, blur and sensor noise;
               synonyms from :data:`LEXICON` and wrappers from :data:`VARIED_WRAPPERS`
    heldout  ─ the independent check, never trained on: dark or light outlines, drop shadows,
               striped texture fills, a vignette, JPEG artefacts; the same lexicon, but other
               wrappers (:data:`HELDOUT_WRAPPERS`) and casing

``varied`` and ``heldout`` share no rendering effect and no wrapper, so a model trained on
``varied`` and scored on ``heldout`` meets renderings and sentence frames it has never seen. They
share the lexicon on purpose: a model cannot know a word it never read, and "upper left" for
"top left" is vocabulary, not phrasing.

Both styled renderings draw from their own generator (``default_rng([seed, index, 97])``), so the
standard scene stays byte-identical and a styled scene is as deterministic as a standard one.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image, ImageFilter

STYLES = ("standard", "varied", "heldout")

#: Word (or phrase) → synonyms a user may say instead; both non-standard styles draw from it.
LEXICON: dict[str, tuple[str, ...]] = {
    "top left": ("upper left",),
    "top right": ("upper right",),
    "bottom left": ("lower left",),
    "bottom right": ("lower right",),
    "centre": ("center", "middle"),
    "colour": ("color",),
    "circle": ("disc", "disk"),
    "ring": ("donut", "hoop"),
    "cross": ("plus sign", "plus"),
    "square": ("box",),
    "small": ("little", "tiny"),
    "large": ("big", "huge"),
    "purple": ("violet",),
    "object": ("item", "shape"),
    "thing": ("item",),
    "picture": ("image", "view"),
}
#: (prefix, suffix) pairs wrapped around an expression in the ``varied`` style.
VARIED_WRAPPERS: tuple[tuple[str, str], ...] = (
    ("", ""),
    ("hey, ", ""),
    ("ok so ", ""),
    ("quick question: ", ""),
    ("um, ", ""),
    ("", " thanks"),
    ("", " now"),
    ("", " for me please"),
    ("so, ", " ok?"),
    ("right, ", ""),
)
#: (prefix, suffix) pairs of the ``heldout`` style; no word frame shared with :data:`VARIED_WRAPPERS`.
HELDOUT_WRAPPERS: tuple[tuple[str, str], ...] = (
    ("", ""),
    ("in this frame, ", ""),
    ("could you check: ", ""),
    ("", " — thank you!"),
    ("", " if possible"),
    ("listen, ", ""),
    ("next up: ", ""),
    ("", ", cheers"),
)


# Longest first, so "top left" is swapped as a whole before any shorter key could match inside it.
_LEXICON_WORDS = re.compile(
    r"\b(?:" + "|".join(sorted(map(re.escape, LEXICON), key=len, reverse=True)) + r")\b"
)


def _rewrite(
    text: str, rng: np.random.Generator, wrappers: Sequence[tuple[str, str]], p_synonym: float
) -> str:
    """Swap lexicon words for synonyms (each with probability ``p_synonym``) and wrap the text."""

    def swap(match: re.Match[str]) -> str:
        word = match.group(0)
        options = LEXICON.get(word)
        if options and rng.random() < p_synonym:
            return options[int(rng.integers(len(options)))]
        return word

    text = _LEXICON_WORDS.sub(swap, text)
    prefix, suffix = wrappers[int(rng.integers(len(wrappers)))]
    if suffix and text.endswith("?"):
        text = text[:-1] + suffix + "?"
    else:
        text = text + suffix
    return prefix + text


def phrase_varied(text: str, rng: np.random.Generator) -> str:
    """The ``varied`` wording of an expression (synonyms, training wrappers)."""
    return _rewrite(text, rng, VARIED_WRAPPERS, p_synonym=0.35)


def phrase_heldout(text: str, rng: np.random.Generator) -> str:
    """The ``heldout`` wording (synonyms, held-out wrappers, sometimes Title Case)."""
    text = _rewrite(text, rng, HELDOUT_WRAPPERS, p_synonym=0.35)
    return text.title() if rng.random() < 0.2 else text[:1].upper() + text[1:]


# ------------------------------------------------------------------------------------ rendering


def _blur(a: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a float image ``[H, W]`` or ``[H, W, 3]`` in [0, 1] (8-bit precision)."""
    if sigma <= 0:
        return a
    im = Image.fromarray((np.clip(a, 0, 1) * 255).round().astype(np.uint8))
    return np.asarray(im.filter(ImageFilter.GaussianBlur(sigma)), dtype=np.float32) / 255


def _soft_alpha(full: np.ndarray, sigma: float) -> np.ndarray:
    """An anti-aliased coverage of a hard mask: its blur, kept at 1 deep inside. ``[H, W]`` float."""
    alpha = _blur(full.astype(np.float32), sigma)
    return np.maximum(alpha, full * (alpha > 0.5))


def _jittered(colour: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """A colour of the same name under another light: per-channel gain and a brightness shift."""
    gain = rng.uniform(1 - strength, 1 + strength / 2, size=3)
    return np.clip(colour * gain + rng.uniform(-strength / 3, strength / 3), 0, 1)


def render_varied(bg: np.ndarray, objects, rng: np.random.Generator, colours: dict) -> np.ndarray:
    """The ``varied`` rendering of a scene: ``bg`` ``[H, W, 3]`` float → ``[H, W, 3]`` uint8."""
    side = bg.shape[0]
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side
    image = bg.copy()
    for obj in objects:
        base = _jittered(np.array(colours[obj.colour], np.float32) / 255, rng, 0.18)
        angle = rng.uniform(0, 2 * math.pi)
        ramp = (np.cos(angle) * (xx - obj.cx / side) + np.sin(angle) * (yy - obj.cy / side)) / max(
            obj.radius / side, 1e-3
        )
        shade = 1 + rng.uniform(0, 0.18) * ramp  # a light from one side: ±18 % across the object
        fill = np.clip(base[None, None] * shade[..., None], 0, 1)
        alpha = _soft_alpha(obj.full, rng.uniform(0.3, 1.0))[..., None]
        image = image * (1 - alpha) + fill * alpha
    contrast, brightness = rng.uniform(0.85, 1.15), rng.uniform(-0.06, 0.06)
    tint = rng.uniform(0.94, 1.06, size=3)
    image = ((image - 0.5) * contrast + 0.5 + brightness) * tint
    image = _blur(np.clip(image, 0, 1), float(rng.choice([0.0, 0.0, 0.5, 0.9])))
    image = image + rng.normal(0, rng.uniform(0.0, 0.035), size=image.shape)
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8)


def _ring(mask: np.ndarray, width: int) -> np.ndarray:
    """The inner border of a mask, ``width`` pixels wide (the mask minus its erosion)."""
    im = Image.fromarray(mask.astype(np.uint8) * 255)
    eroded = np.asarray(im.filter(ImageFilter.MinFilter(2 * width + 1))) > 127
    return mask & ~eroded


def render_heldout(bg: np.ndarray, objects, rng: np.random.Generator, colours: dict) -> np.ndarray:
    """The ``heldout`` rendering: outlines, drop shadows, stripes, vignette, JPEG. uint8 ``[H, W, 3]``."""
    side = bg.shape[0]
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    image = bg.copy()
    dx, dy = (int(v) for v in rng.integers(2, 6, size=2))  # one light for the whole scene
    outline = np.array([0.08, 0.08, 0.08] if rng.random() < 0.7 else [0.95, 0.95, 0.95], np.float32)
    for obj in objects:
        shadow = np.roll(np.roll(obj.full, dy, axis=0), dx, axis=1) & ~obj.full
        image[shadow] *= 0.55
        colour = np.array(colours[obj.colour], np.float32) / 255
        period = rng.uniform(4, 9)
        stripes = 0.5 + 0.5 * np.sin(2 * math.pi * (xx + yy) / period)
        fill = colour[None, None] * (1 - rng.uniform(0.0, 0.15) * stripes[..., None])
        image[obj.full] = fill[obj.full]
        if rng.random() < 0.75:
            image[_ring(obj.full, int(rng.integers(1, 3)))] = outline
    r = np.hypot(xx / side - 0.5, yy / side - 0.5) / math.sqrt(0.5)
    image = image * (1 - rng.uniform(0.1, 0.35) * r[..., None] ** 2)
    out = Image.fromarray((np.clip(image, 0, 1) * 255).round().astype(np.uint8))
    buffer = io.BytesIO()
    out.save(buffer, format="JPEG", quality=int(rng.integers(30, 71)))
    return np.asarray(Image.open(buffer).convert("RGB"), dtype=np.uint8).copy()


#: style → (renderer, rephraser); ``standard`` is the generator's own and has no entry.
_STYLE_FUNCTIONS: dict[str, tuple[Callable, Callable]] = {
    "varied": (render_varied, phrase_varied),
    "heldout": (render_heldout, phrase_heldout),
}


def style_functions(style: str) -> tuple[Callable, Callable]:
    """The renderer and the rephraser of a non-standard style."""
    from mllmsc.errors import UserError

    if style not in _STYLE_FUNCTIONS:
        raise UserError(f"scene style must be one of {', '.join(STYLES)}, got {style!r}")
    return _STYLE_FUNCTIONS[style]

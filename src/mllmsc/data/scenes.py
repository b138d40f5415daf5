"""Synthetic AR scenes with referring expressions: the offline stand-in for PhraseCut-like data.

A scene is a background (a random crop of a given photo, or a procedural texture) with 1–6
coloured shapes drawn over it, possibly overlapping. Every object keeps the mask of its *visible*
pixels (what later objects cover and a ring's hole are excluded), and the scene carries referring
expressions, each with the ground-truth mask of what it needs and, for questions, the answer::

    seed, index ─► Generator ─► background ─► objects (shape, colour, size, position, order)
                                          └─► visible masks ─► expressions (type, text, mask, answer)

Vocabulary: shapes ``circle square triangle star ring cross heart``; colours ``red green blue
yellow purple orange white black``; sizes ``small large`` (disjoint radius ranges); positions on a
3×3 grid of the image ("top left", "top", "top right", "left", "centre", ...).

Expression types (the ``type`` field), all checked to be unambiguous for their scene:

* ``phrase``   — a description that only one object matches: "the small red triangle", "blue star";
* ``request``  — the same inside a request: "focus on the ring", "I need to see the large cross";
* ``position`` — by place: "the star in the top left corner", "the object in the centre";
* ``relation`` — by another object: "the star left of the blue circle", "the circle on top of the
  square" (the target is the only object so described that stands in that relation);
* ``question`` — a question whose answer needs the object(s), with ``answer`` and ``subtype``:
  ``colour`` ("what colour is the ring?" → "purple"), ``count`` ("how many squares are there?" →
  "2", the mask is every square), ``shape`` ("what shape is at the top right?" → "heart"),
  ``where`` ("where is the blue heart?" → "bottom left").

Deterministic: scene ``i`` of seed ``s`` is drawn from ``numpy.random.default_rng([s, i])``
whatever the number of scenes, so ``--n 10`` is a prefix of ``--n 500``; file bytes are identical
across runs.
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from skimage.draw import polygon2mask

from mllmsc.errors import UserError

SHAPES = ("circle", "square", "triangle", "star", "ring", "cross", "heart")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (214, 39, 40),
    "green": (44, 160, 44),
    "blue": (31, 90, 220),
    "yellow": (245, 215, 35),
    "purple": (128, 55, 170),
    "orange": (250, 127, 14),
    "white": (246, 246, 246),
    "black": (18, 18, 18),
}
#: Radius ranges as fractions of the image side (disjoint, so "small" and "large" are absolute).
SIZES = {"small": (0.06, 0.09), "large": (0.14, 0.20)}

_ROWS = ("top", "middle", "bottom")
_COLS = ("left", "centre", "right")
#: Cell → (name used as an answer, phrase after a noun).
_CELLS = {
    ("top", "left"): ("top left", "in the top left corner"),
    ("top", "centre"): ("top", "at the top"),
    ("top", "right"): ("top right", "in the top right corner"),
    ("middle", "left"): ("left", "on the left"),
    ("middle", "centre"): ("centre", "in the centre"),
    ("middle", "right"): ("right", "on the right"),
    ("bottom", "left"): ("bottom left", "in the bottom left corner"),
    ("bottom", "centre"): ("bottom", "at the bottom"),
    ("bottom", "right"): ("bottom right", "in the bottom right corner"),
}
_MIN_VISIBLE = 0.5  # an object keeps at least this fraction of its pixels visible


@dataclass
class SceneObject:
    """One drawn shape.

    Attributes:
        shape, colour, size: its attributes (see :data:`SHAPES`, :data:`COLOURS`, :data:`SIZES`).
        cx, cy: centre in pixels; ``radius``: half extent in pixels; ``rotation`` in radians.
        full: every pixel of the shape, ``[H, W]`` bool (before anything covers it).
        visible: the pixels that show in the image, ``[H, W]`` bool.
    """

    shape: str
    colour: str
    size: str
    cx: float
    cy: float
    radius: float
    rotation: float
    full: np.ndarray = field(repr=False)
    visible: np.ndarray = field(repr=False)

    def cell(self, side: int) -> tuple[str, str]:
        """(row, column) of the centre on the 3×3 grid."""
        return _ROWS[min(int(3 * self.cy / side), 2)], _COLS[min(int(3 * self.cx / side), 2)]

    def clear_of_grid_lines(self, side: int, margin: float = 0.04) -> bool:
        """The centre is at least ``margin·side`` from the grid lines (its cell is not debatable)."""
        return all(abs(v - k * side / 3) >= margin * side for v in (self.cx, self.cy) for k in (1, 2))

    def bbox(self) -> list[int]:
        """``[x0, y0, x1, y1]`` of the visible pixels (end exclusive)."""
        ys, xs = np.nonzero(self.visible)
        return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


@dataclass
class Expression:
    """A referring expression or question with what it needs.

    Attributes:
        type: ``phrase``, ``request``, ``position``, ``relation`` or ``question``.
        text: what the user says.
        targets: indices of the objects it needs (in drawing order).
        mask: union of their visible masks, ``[H, W]`` bool.
        answer: the answer of a question (``None`` otherwise).
        subtype: for questions, ``colour``, ``count``, ``shape`` or ``where``.
    """

    type: str
    text: str
    targets: tuple[int, ...]
    mask: np.ndarray = field(repr=False)
    answer: str | None = None
    subtype: str | None = None


@dataclass
class Scene:
    """A generated scene: ``image`` ``[H, W, 3]`` uint8, its objects, its expressions."""

    image: np.ndarray = field(repr=False)
    objects: list[SceneObject]
    expressions: list[Expression]
    background: str
    seed: int
    index: int


# ------------------------------------------------------------------------------------ drawing


def _rotated(points: np.ndarray, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return points @ np.array([[c, s], [-s, c]])


def _outline(shape: str, n: int = 64) -> np.ndarray | None:
    """Polygon of a shape of radius 1 around the origin, as ``[N, 2]`` (x, y), y down."""
    if shape == "square":
        a = 0.8
        return np.array([[-a, -a], [a, -a], [a, a], [-a, a]])
    if shape == "triangle":
        angles = -math.pi / 2 + np.arange(3) * 2 * math.pi / 3
        return np.stack([np.cos(angles), np.sin(angles) + 0.15], axis=1)
    if shape == "star":
        angles = -math.pi / 2 + np.arange(10) * math.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, 1.0, 0.45)
        return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)
    if shape == "cross":
        a, b = 0.32, 0.95
        return np.array(
            [
                [-a, -b],
                [a, -b],
                [a, -a],
                [b, -a],
                [b, a],
                [a, a],
                [a, b],
                [-a, b],
                [-a, a],
                [-b, a],
                [-b, -a],
                [-a, -a],
            ]
        )
    if shape == "heart":
        t = np.linspace(0, 2 * math.pi, n, endpoint=False)
        x = 16 * np.sin(t) ** 3
        y = 13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)
        return np.stack([x / 17, -(y + 2.5) / 17], axis=1)
    return None  # circle and ring are drawn from the distance


def shape_mask(
    shape: str, cx: float, cy: float, r: float, rotation: float, size: tuple[int, int]
) -> np.ndarray:
    """Pixels (centres) inside the shape, ``[H, W]`` bool."""
    h, w = size
    poly = _outline(shape)
    if poly is None:
        yy, xx = np.mgrid[0:h, 0:w]
        d = np.hypot(xx + 0.5 - cx, yy + 0.5 - cy)
        return (d <= r) & (d >= 0.55 * r) if shape == "ring" else d <= r
    pts = _rotated(poly, rotation) * r + np.array([cx, cy])
    # polygon2mask wants (row, col) vertices; pixel (i, j) has its centre at (i + 0.5, j + 0.5).
    return polygon2mask((h, w), np.stack([pts[:, 1] - 0.5, pts[:, 0] - 0.5], axis=1))


def _smooth_noise(rng: np.random.Generator, side: int, cells: int) -> np.ndarray:
    grid = rng.random((cells + 1, cells + 1))
    im = Image.fromarray((grid * 255).astype(np.uint8)).resize((side, side), Image.BICUBIC)
    return np.asarray(im, dtype=np.float32) / 255


def procedural_background(rng: np.random.Generator, side: int) -> tuple[np.ndarray, str]:
    """A texture when no photos are given: ``([H, W, 3] float32 in [0, 1], kind)``."""
    kind = str(rng.choice(["gradient", "clouds", "stripes", "checker"]))
    c0, c1 = rng.uniform(0.15, 0.85, size=3), rng.uniform(0.15, 0.85, size=3)
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side
    if kind == "gradient":
        a = rng.uniform(0, 2 * math.pi)
        t = (np.cos(a) * xx + np.sin(a) * yy) / math.sqrt(2) + 0.5
    elif kind == "clouds":
        t = sum(_smooth_noise(rng, side, c) / 2**k for k, c in enumerate((3, 6, 12, 24)))
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    elif kind == "stripes":
        a, f = rng.uniform(0, math.pi), rng.uniform(3, 10)
        t = 0.5 + 0.5 * np.sin(2 * math.pi * f * (np.cos(a) * xx + np.sin(a) * yy))
    else:
        f = int(rng.integers(3, 9))
        t = ((np.floor(xx * f) + np.floor(yy * f)) % 2).astype(np.float32) * 0.6 + 0.2
    bg = c0 * (1 - t[..., None]) + c1 * t[..., None]
    bg += rng.normal(0, 0.015, size=bg.shape)
    return np.clip(bg, 0, 1).astype(np.float32), f"procedural:{kind}"


@functools.lru_cache(maxsize=512)  # a few hundred photos fit in RAM; decoding each once pays
def _photo(path: str) -> np.ndarray:
    from mllmsc.data.io import read_image

    return (read_image(path).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def photo_background(rng: np.random.Generator, side: int, photos: Sequence[Path]) -> tuple[np.ndarray, str]:
    """A random square crop of a random photo, resized to ``side`` (random scale, random flip)."""
    path = photos[int(rng.integers(len(photos)))]
    photo = _photo(str(path))
    h, w = photo.shape[:2]
    m = min(h, w)
    crop = int(rng.integers(min(m, max(side // 2, m // 2)), m + 1))  # zoom varies up to 2×
    y0, x0 = int(rng.integers(h - crop + 1)), int(rng.integers(w - crop + 1))
    patch = Image.fromarray(photo[y0 : y0 + crop, x0 : x0 + crop]).resize((side, side), Image.BICUBIC)
    array = np.asarray(patch, dtype=np.float32) / 255
    if rng.random() < 0.5:
        array = array[:, ::-1]
    return np.ascontiguousarray(array), f"photo:{path.name}"


def list_backgrounds(folder: str | os.PathLike[str] | None) -> list[Path]:
    """The image files of ``folder`` (sorted); ``[]`` for ``None``. A folder with none is an error.

    Which files are images is :func:`mllmsc.data.io.list_images`'s rule (its ``IMAGE_SUFFIXES``).
    """
    if folder is None:
        return []
    from mllmsc.data.io import IMAGE_SUFFIXES, list_images  # torch only when photos are asked for

    p = Path(folder)
    if not p.is_dir():  # checked here too: the message names the option
        raise UserError(f"--backgrounds {p}: not a folder")
    files = list_images(p)
    if not files:
        raise UserError(f"--backgrounds {p}: no images ({', '.join(IMAGE_SUFFIXES)}) in it")
    return files


def _place_objects(rng: np.random.Generator, side: int, count: int) -> list[SceneObject]:
    objects: list[SceneObject] = []
    for _ in range(count):
        for _attempt in range(40):
            shape = SHAPES[int(rng.integers(len(SHAPES)))]
            colour = list(COLOURS)[int(rng.integers(len(COLOURS)))]
            size = "small" if rng.random() < 0.5 else "large"
            r = rng.uniform(*SIZES[size]) * side
            cx, cy = rng.uniform(r, side - r), rng.uniform(r, side - r)
            rotation = 0.0 if shape in ("circle", "ring") else float(rng.uniform(-0.26, 0.26))
            full = shape_mask(shape, cx, cy, r, rotation, (side, side))
            if full.sum() < 20:
                continue
            trial = [*objects, SceneObject(shape, colour, size, cx, cy, r, rotation, full, full)]
            if _visibility(trial, side):
                objects = trial
                break
    return objects


def _visibility(objects: list[SceneObject], side: int) -> bool:
    """Set every object's visible mask; False if one would be hidden beyond :data:`_MIN_VISIBLE`."""
    covered = np.zeros((side, side), bool)
    for obj in reversed(objects):  # the last drawn is on top
        obj.visible = obj.full & ~covered
        covered |= obj.full
        n = int(obj.visible.sum())
        if n < max(20, _MIN_VISIBLE * obj.full.sum()):
            return False
    return True


def _render(bg: np.ndarray, objects: list[SceneObject], rng: np.random.Generator) -> np.ndarray:
    image = bg.copy()
    for obj in objects:
        colour = np.array(COLOURS[obj.colour], np.float32) / 255
        # noise for the object's own pixels only (a whole-image draw per object cost most of a scene)
        shade = colour * rng.uniform(0.92, 1.0) + rng.normal(0, 0.02, size=(int(obj.full.sum()), 3))
        image[obj.full] = np.clip(shade, 0, 1)
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8)


# -------------------------------------------------------------------------------- expressions

_ATTRS = (("shape",), ("colour", "shape"), ("size", "shape"), ("size", "colour", "shape"))


def _describe(obj: SceneObject, attrs: Sequence[str]) -> str:
    return " ".join(getattr(obj, a) for a in attrs)


def _matching(objects: list[SceneObject], obj: SceneObject, attrs: Sequence[str]) -> list[int]:
    return [i for i, o in enumerate(objects) if all(getattr(o, a) == getattr(obj, a) for a in attrs)]


def _unique_descriptions(objects: list[SceneObject], i: int, *, without: str | None = None) -> list[str]:
    obj = objects[i]
    return [
        _describe(obj, attrs)
        for attrs in _ATTRS
        if without not in attrs and _matching(objects, obj, attrs) == [i]
    ]


def _plural(shape: str) -> str:
    return shape + ("es" if shape.endswith("s") else "s")


def _relation(a: SceneObject, b: SceneObject, rel: str, *, strict: bool) -> bool:
    """Whether ``a`` is ``rel`` of ``b`` (centres). Strict: clearly so; loose: at all."""
    dx, dy = a.cx - b.cx, a.cy - b.cy
    along, across = {"left": (-dx, dy), "right": (dx, dy), "above": (-dy, dx), "below": (dy, dx)}[rel]
    if not strict:
        return along > 0
    return along > 0.5 * (a.radius + b.radius) and abs(across) < along


_REL_TEXT = {
    "left": ("left of", "to the left of"),
    "right": ("right of", "to the right of"),
    "above": ("above",),
    "below": ("below", "under"),
}
_REQUESTS = (
    "focus on the {d}",
    "I need to see the {d}",
    "please show me the {d}",
    "zoom in on the {d}",
    "can you send the {d} clearly?",
    "make sure the {d} arrives sharp",
    "the {d} is what matters",
    "look at the {d}",
)


def _candidates(objects: list[SceneObject], side: int, rng: np.random.Generator) -> list[tuple]:
    """Every unambiguous expression of the scene as ``(type, text, targets, answer, subtype)``."""
    out: list[tuple] = []
    pick = lambda seq: seq[int(rng.integers(len(seq)))]  # noqa: E731
    cells = [o.cell(side) for o in objects]
    for i, obj in enumerate(objects):
        unique = _unique_descriptions(objects, i)
        if unique:
            d = unique[0] if rng.random() < 0.6 else pick(unique)
            out.append(("phrase", pick(("the {d}", "{d}", "the {d}")).format(d=d), (i,), None, None))
            out.append(("request", pick(_REQUESTS).format(d=pick(unique)), (i,), None, None))
        # position: the cell is clear and no other object of the description shares it
        if obj.clear_of_grid_lines(side):
            answer, where = _CELLS[cells[i]]
            # corners also as "at the top right"
            where_alt = where if " " not in answer or rng.random() < 0.5 else f"at the {answer}"
            same_cell = [j for j in range(len(objects)) if cells[j] == cells[i]]
            if same_cell == [i]:
                out.append(
                    (
                        "position",
                        pick(("the object {w}", "whatever is {w}", "the thing {w}")).format(w=where),
                        (i,),
                        None,
                        None,
                    )
                )
                out.append(("question", f"what shape is {where_alt}?", (i,), obj.shape, "shape"))
            for attrs in (("shape",), ("colour", "shape")):
                if [j for j in same_cell if j in _matching(objects, obj, attrs)] == [i] and len(
                    _matching(objects, obj, attrs)
                ) > 1:
                    out.append(("position", f"the {_describe(obj, attrs)} {where}", (i,), None, None))
            if unique:
                q = pick(("where is the {d}?", "in which part of the picture is the {d}?"))
                out.append(("question", q.format(d=pick(unique)), (i,), answer, "where"))
        no_colour = _unique_descriptions(objects, i, without="colour")
        if no_colour:
            q = pick(("what colour is the {d}?", "what color is the {d}?", "which colour does the {d} have?"))
            out.append(("question", q.format(d=pick(no_colour)), (i,), obj.colour, "colour"))
        if _matching(objects, obj, ("colour",)) == [i]:
            q = pick(("what shape is the {c} object?", "what is the {c} thing?"))
            out.append(("question", q.format(c=obj.colour), (i,), obj.shape, "shape"))
        # relations: i is the only object of its description in that relation to j
        for j, ref in enumerate(objects):
            ref_unique = _unique_descriptions(objects, j)
            if j == i or not ref_unique:
                continue
            for attrs in (("shape",), ("colour", "shape")):
                group = [k for k in _matching(objects, obj, attrs) if k != j]
                for rel, words in _REL_TEXT.items():
                    if _relation(obj, ref, rel, strict=True) and not any(
                        _relation(objects[k], ref, rel, strict=False) for k in group if k != i
                    ):
                        text = f"the {_describe(obj, attrs)} {pick(words)} the {ref_unique[0]}"
                        out.append(("relation", text, (i,), None, None))
                on_top = [
                    k for k in group if k > j and (objects[k].full & ref.full).sum() >= 0.05 * ref.full.sum()
                ]
                if on_top == [i]:
                    text = (
                        f"the {_describe(obj, attrs)} {pick(('on top of', 'covering'))} the {ref_unique[0]}"
                    )
                    out.append(("relation", text, (i,), None, None))
    # counting: shapes, colours, and colour + shape that are present
    groups: dict[str, list[int]] = {}
    for i, obj in enumerate(objects):
        groups.setdefault(f"shape:{obj.shape}", []).append(i)
        groups.setdefault(f"colour:{obj.colour}", []).append(i)
        groups.setdefault(f"both:{obj.colour} {obj.shape}", []).append(i)
    for key, members in groups.items():
        kind, value = key.split(":")
        if kind == "shape":
            text = pick(("how many {p} are there?", "how many {p} can you see?", "count the {p}")).format(
                p=_plural(value)
            )
        elif kind == "colour":
            text = pick(("how many {c} objects are there?", "how many {c} shapes can you see?")).format(
                c=value
            )
        else:
            c, s = value.split(" ")
            text = f"how many {c} {_plural(s)} are there?"
        out.append(("question", text, tuple(members), str(len(members)), "count"))
    return out


def _choose(candidates: list[tuple], n: int, rng: np.random.Generator) -> list[tuple]:
    """Up to ``n`` expressions, round-robin over types (in a random order), no repeated text."""
    by_type: dict[str, list[tuple]] = {}
    for c in candidates:
        key = c[0] if c[0] != "question" else f"question:{c[4]}"
        by_type.setdefault(key, []).append(c)
    order = sorted(by_type)
    order = [order[k] for k in rng.permutation(len(order))]
    chosen, texts = [], set()
    while len(chosen) < n and any(by_type[t] for t in order):
        for t in order:
            pool = by_type[t]
            while pool:
                c = pool.pop(int(rng.integers(len(pool))))
                if c[1] not in texts:
                    chosen.append(c)
                    texts.add(c[1])
                    break
            if len(chosen) >= n:
                break
    return chosen


# --------------------------------------------------------------------------------- generation


def generate_scene(
    seed: int,
    index: int,
    *,
    size: int = 256,
    backgrounds: Sequence[Path] = (),
    n_expressions: int = 8,
    max_objects: int = 6,
    style: str = "standard",
) -> Scene:
    """Scene ``index`` of ``seed`` (independent of how many scenes are drawn).

    Args:
        seed, index: the scene's identity; its generator is ``default_rng([seed, index])``.
        size: side of the square image in pixels (>= 32).
        backgrounds: photos to crop backgrounds from; procedural textures when empty.
        n_expressions: the most expressions kept (balanced over types).
        max_objects: objects are drawn uniformly from 1..max_objects.
        style: how the content is rendered and worded (:mod:`mllmsc.data.scene_styles`);
            the objects, masks and answers are the same in every style.
    """
    if size < 32:
        raise UserError(f"scene size must be at least 32 pixels, got {size}")
    restyle = None
    if style != "standard":
        from mllmsc.data.scene_styles import style_functions

        restyle = style_functions(style)
    rng = np.random.default_rng([int(seed), int(index)])
    if backgrounds:
        bg, bg_name = photo_background(rng, size, backgrounds)
    else:
        bg, bg_name = procedural_background(rng, size)
    objects = _place_objects(rng, size, int(rng.integers(1, max_objects + 1)))
    image = _render(bg, objects, rng)
    expressions = []
    for type_, text, targets, answer, subtype in _choose(_candidates(objects, size, rng), n_expressions, rng):
        mask = np.zeros((size, size), bool)
        for t in targets:
            mask |= objects[t].visible
        expressions.append(Expression(type_, text, tuple(targets), mask, answer, subtype))
    if restyle is not None:
        # Its own generator: the content above is the standard scene's, draw for draw.
        render, rephrase = restyle
        style_rng = np.random.default_rng([int(seed), int(index), 97])
        image = render(bg, objects, style_rng, COLOURS)
        for e in expressions:
            e.text = rephrase(e.text, style_rng)
    return Scene(image, objects, expressions, bg_name, int(seed), int(index))


def generate_scenes(n: int, seed: int, **kwargs) -> Iterator[Scene]:
    """Scenes ``0 .. n-1`` of ``seed`` (keyword arguments as :func:`generate_scene`)."""
    for i in range(n):
        yield generate_scene(seed, i, **kwargs)


def scene_record(scene: Scene, image_file: str, mask_files: list[str]) -> dict:
    """The JSONL record of a scene (paths relative to the output folder)."""
    side = scene.image.shape[0]
    return {
        "file": image_file,
        "seed": scene.seed,
        "index": scene.index,
        "height": int(scene.image.shape[0]),
        "width": int(scene.image.shape[1]),
        "background": scene.background,
        "objects": [
            {
                "id": i,
                "shape": o.shape,
                "colour": o.colour,
                "size": o.size,
                "position": _CELLS[o.cell(side)][0],
                "center": [round(o.cx, 2), round(o.cy, 2)],
                "radius": round(o.radius, 2),
                "bbox": o.bbox(),
                "visible_pixels": int(o.visible.sum()),
            }
            for i, o in enumerate(scene.objects)
        ],
        "expressions": [
            {
                "type": e.type,
                "subtype": e.subtype,
                "text": e.text,
                "mask": f,
                "answer": e.answer,
                "targets": list(e.targets),
            }
            for e, f in zip(scene.expressions, mask_files, strict=True)
        ],
    }


def write_scenes(
    out: str | os.PathLike[str],
    n: int,
    seed: int,
    *,
    size: int = 256,
    backgrounds: str | os.PathLike[str] | None = None,
    n_expressions: int = 8,
    style: str = "standard",
) -> Path:
    """Write ``n`` scenes: ``images/scene_NNNNN.png``, ``masks/scene_NNNNN_eKK.png`` (0/255) and
    ``scenes.jsonl`` (one record per scene, see :func:`scene_record`), drawn in ``style``
    (:mod:`mllmsc.data.scene_styles`). Returns the JSONL path."""
    import torch

    from mllmsc.atomic import atomic_write_text
    from mllmsc.data.io import write_image

    if n < 1:
        raise UserError(f"--n must be at least 1, got {n}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a folder")
    photos = list_backgrounds(backgrounds)
    lines = []
    scenes = generate_scenes(n, seed, size=size, backgrounds=photos, n_expressions=n_expressions, style=style)
    for scene in scenes:
        stem = f"scene_{scene.index:05d}"
        image_file = f"images/{stem}.png"
        write_image(out / image_file, torch.from_numpy(scene.image).permute(2, 0, 1).float() / 255)
        mask_files = []
        for k, e in enumerate(scene.expressions):
            mask_file = f"masks/{stem}_e{k:02d}.png"
            write_image(out / mask_file, torch.from_numpy(e.mask).float()[None])
            mask_files.append(mask_file)
        lines.append(json.dumps(scene_record(scene, image_file, mask_files), separators=(", ", ": ")))
    path = out / "scenes.jsonl"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path

"""Synthetic scenes: determinism, and masks and answers that agree with the objects."""

import json

import numpy as np
import pytest
from PIL import Image

from mllmsc.data.scenes import COLOURS, SHAPES, generate_scene, shape_mask, write_scenes
from mllmsc.errors import UserError

SCENES = [generate_scene(7, i, size=96) for i in range(40)]


def test_same_seed_gives_identical_bytes(tmp_path):
    write_scenes(tmp_path / "a", 4, seed=3, size=64)
    write_scenes(tmp_path / "b", 4, seed=3, size=64)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert files and any(f.name == "scenes.jsonl" for f in files)
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    write_scenes(tmp_path / "c", 4, seed=4, size=64)
    assert (tmp_path / "c/scenes.jsonl").read_bytes() != (tmp_path / "a/scenes.jsonl").read_bytes()


def test_scene_i_does_not_depend_on_how_many_are_drawn():
    assert np.array_equal(generate_scene(7, 5, size=96).image, SCENES[5].image)


def test_jsonl_records_point_to_files_that_match(tmp_path):
    write_scenes(tmp_path, 3, seed=1, size=64)
    lines = (tmp_path / "scenes.jsonl").read_text().splitlines()
    assert len(lines) == 3
    for line in lines:
        rec = json.loads(line)
        assert Image.open(tmp_path / rec["file"]).size == (64, 64)
        assert 1 <= len(rec["objects"]) <= 6
        for e in rec["expressions"]:
            assert set(e) == {"type", "subtype", "text", "mask", "answer", "targets"}
            mask = np.asarray(Image.open(tmp_path / e["mask"]))
            assert mask.shape == (64, 64) and set(np.unique(mask)) <= {0, 255} and mask.any()


def test_objects_use_the_vocabulary_and_visible_masks_are_exclusive():
    for scene in SCENES:
        assert 1 <= len(scene.objects) <= 6
        covered = np.zeros(scene.image.shape[:2], bool)
        for k, obj in enumerate(scene.objects):
            assert obj.shape in SHAPES and obj.colour in COLOURS and obj.size in ("small", "large")
            assert obj.visible.any() and not (obj.visible & ~obj.full).any()
            assert obj.visible.sum() >= 0.5 * obj.full.sum()
            # occluded pixels belong to the top (later) object only
            for top in scene.objects[k + 1 :]:
                assert not (obj.visible & top.full).any()
            assert not (covered & obj.visible).any()
            covered |= obj.visible


def test_pixels_show_the_colour_of_the_object_they_belong_to():
    for scene in SCENES[:10]:
        for obj in scene.objects:
            mean = scene.image[obj.visible].mean(axis=0)
            assert np.abs(mean - np.array(COLOURS[obj.colour])).max() < 30


def test_ring_masks_exclude_the_hole():
    ring = shape_mask("ring", 32, 32, 20, 0.0, (64, 64))
    disc = shape_mask("circle", 32, 32, 20, 0.0, (64, 64))
    assert not ring[32, 32] and disc[32, 32] and ring[32, 32 + 16] and ring.sum() < disc.sum()
    for scene in SCENES:
        for obj in scene.objects:
            if obj.shape == "ring":
                assert not obj.visible[int(obj.cy), int(obj.cx)]


def test_expressions_are_consistent_with_the_objects():
    types = set()
    for scene in SCENES:
        for e in scene.expressions:
            types.add(e.type if e.type != "question" else f"question:{e.subtype}")
            assert e.mask.any() and e.mask.shape == scene.image.shape[:2]
            union = np.zeros_like(e.mask)
            for t in e.targets:
                union |= scene.objects[t].visible
            assert np.array_equal(union, e.mask)
            objs = [scene.objects[t] for t in e.targets]
            if e.subtype == "count":
                words = e.text.rstrip("?").split()
                shape = next((s for s in SHAPES if f" {s}" in f" {e.text}"), None)
                colour = next((c for c in COLOURS if c in words), None)
                expected = [
                    o for o in scene.objects
                    if (shape is None or o.shape == shape) and (colour is None or o.colour == colour)
                ]  # fmt: skip
                assert e.answer == str(len(expected)) == str(len(e.targets))
            elif e.subtype == "colour":
                assert len(objs) == 1 and e.answer == objs[0].colour
            elif e.subtype == "shape":
                assert len(objs) == 1 and e.answer == objs[0].shape
            elif e.subtype == "where":
                assert len(objs) == 1 and e.answer
            else:
                assert e.answer is None and len(objs) == 1
                generic = e.type == "position" and not any(s in e.text for s in SHAPES)
                assert generic or objs[0].shape in e.text  # the description names the target's shape
    assert {"phrase", "request", "position", "relation", "question:count", "question:colour"} <= types


def test_plain_descriptions_match_exactly_one_object():
    for scene in SCENES:
        for e in scene.expressions:
            if e.type != "phrase":
                continue
            words = e.text.replace("the ", "").split()
            matches = [
                o for o in scene.objects
                if all(w in (o.shape, o.colour, o.size) for w in words)
            ]  # fmt: skip
            assert len(matches) == 1


def test_photo_backgrounds_and_bad_folders(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.full((80, 120, 3), 200, np.uint8)).save(photos / "grey.png")
    scene = generate_scene(0, 0, size=64, backgrounds=sorted(photos.iterdir()))
    assert scene.background == "photo:grey.png"
    with pytest.raises(UserError):
        write_scenes(tmp_path / "o", 1, 0, backgrounds=tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError):
        write_scenes(tmp_path / "o", 1, 0, backgrounds=tmp_path / "empty")


def test_backgrounds_are_listed_by_the_one_image_rule_of_data_io(tmp_path):
    from mllmsc.data.io import IMAGE_SUFFIXES
    from mllmsc.data.scenes import list_backgrounds

    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.full((8, 8, 3), 9, np.uint8)).save(photos / "b.ppm")  # a suffix of data.io's list
    Image.fromarray(np.full((8, 8, 3), 9, np.uint8)).save(photos / "a.PNG")
    (photos / "notes.txt").write_text("not an image")
    (photos / "sub.png").mkdir()  # a folder is not an image file, whatever its name
    assert list_backgrounds(photos) == [photos / "a.PNG", photos / "b.ppm"]
    assert list_backgrounds(None) == []
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match=r"--backgrounds .*empty: no images \(") as err:
        list_backgrounds(tmp_path / "empty")
    assert ", ".join(IMAGE_SUFFIXES) in str(err.value)
    with pytest.raises(UserError, match=r"--backgrounds .*nope: not a folder"):
        list_backgrounds(tmp_path / "nope")

"""`mllmsc guide` writes its four files; bad input is one line and exit code 2."""

import json

import numpy as np
import pytest
from PIL import Image

from mllmsc.cli.main import main


@pytest.fixture
def scene_png(tmp_path):
    x = np.full((48, 64, 3), 70, np.uint8)
    x[10:30, 20:44] = (230, 40, 40)
    path = tmp_path / "scene.png"
    Image.fromarray(x).save(path)
    return path


def test_guide_writes_map_mask_overlay_and_report(tmp_path, scene_png):
    out = tmp_path / "out"
    code = main(
        [
            "guide",
            str(scene_png),
            "--query",
            "the red square",
            "--snr",
            "3",
            "--cbr",
            "1/32",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    for name in ("map.png", "mask.png", "overlay.png"):
        assert Image.open(out / name).size == (64, 48)
    assert Image.open(out / "map.png").mode == "L"
    assert set(np.unique(np.asarray(Image.open(out / "mask.png")))) <= {0, 255}
    report = json.loads((out / "guide.json").read_text())
    assert {"backend", "phrases", "used_query", "roi_fraction", "latency_ms", "snr_db", "cbr"} <= set(report)
    # auto without CLIPSeg: the shipped tiny-refseg reads the query about a shape and a colour
    assert report["backend"] == "tiny-refseg" and report["used_query"] is True
    assert report["snr_db"] == 3.0 and report["cbr"] == 1 / 32 and 0 < report["roi_fraction"] <= 1
    mask = np.asarray(Image.open(out / "mask.png")) > 0
    assert mask[10:30, 20:44].sum() >= 0.8 * mask.sum()  # what it keeps is the red square


def test_guide_sends_queries_outside_tiny_refsegs_world_to_saliency(tmp_path, scene_png):
    out = tmp_path / "out"
    assert main(["guide", str(scene_png), "--query", "the astronaut's face", "--out", str(out)]) == 0
    report = json.loads((out / "guide.json").read_text())
    assert report["backend"] == "saliency" and report["used_query"] is False
    assert "go to saliency" in report["note"]


@pytest.mark.parametrize(
    "extra, fragment",
    [
        (["--snr", "ten"], "SNR must be a number"),
        (["--cbr", "2"], "CBR must be in"),
        (["--guidance", "magic"], "choose one of"),
        (["--guidance", "clipseg"], "hf download"),
        (["--guidance", "tiny-refseg", "--guidance-model", "/nonexistent"], "needs config.json"),
        (["--guidance", "saliency", "--guidance-model", "x"], "does not take"),
    ],
)
def test_bad_options_exit_2(tmp_path, scene_png, capsys, extra, fragment):
    assert main(["guide", str(scene_png), "--out", str(tmp_path / "o"), *extra]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_bad_images_exit_2(tmp_path, capsys):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    assert main(["guide", str(empty), "--out", str(tmp_path / "o")]) == 2
    assert main(["guide", str(tmp_path / "missing.png"), "--out", str(tmp_path / "o")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_guide_refuses_to_overwrite_its_input(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    image = out / "map.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(image)
    before = image.read_bytes()
    assert main(["guide", str(image), "--out", str(out)]) == 2
    assert image.read_bytes() == before


def test_scenes_command(tmp_path, capsys):
    assert main(["scenes", "--n", "2", "--seed", "0", "--size", "48", "--out", str(tmp_path / "s")]) == 0
    assert len((tmp_path / "s/scenes.jsonl").read_text().splitlines()) == 2
    assert main(["scenes", "--n", "0", "--out", str(tmp_path / "s2")]) == 2
    assert main(["scenes", "--size", "8", "--out", str(tmp_path / "s2")]) == 2


def test_scenes_command_writes_a_style_and_rejects_an_unknown_one(tmp_path, capsys):
    import json

    argv = ["scenes", "--n", "1", "--seed", "0", "--size", "48"]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    assert main([*argv, "--style", "heldout", "--out", str(tmp_path / "b")]) == 0
    plain, held = (json.loads((tmp_path / d / "scenes.jsonl").read_text()) for d in ("a", "b"))
    assert [e["answer"] for e in plain["expressions"]] == [e["answer"] for e in held["expressions"]]
    assert (tmp_path / "a/images/scene_00000.png").read_bytes() != (
        tmp_path / "b/images/scene_00000.png"
    ).read_bytes()
    assert main([*argv, "--style", "sketch", "--out", str(tmp_path / "c")]) == 2
    assert "--style must be one of" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()

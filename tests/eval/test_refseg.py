"""`mllmsc eval --task refseg`: guidance IoU on generated scenes."""

import csv

import pytest

from mllmsc.cli.main import main
from mllmsc.eval.refseg import evaluate_refseg, summaries
from mllmsc.guidance import build_guidance


def test_uniform_iou_is_the_mask_area_fraction_and_summaries_group_by_type():
    rows = evaluate_refseg({"uniform": build_guidance("uniform")}, scenes=2, seed=5, size=64)
    assert rows and all(r["ran"] == "uniform" and r["used_query"] == "0" for r in rows)
    from mllmsc.data.scenes import generate_scene

    scene = generate_scene(5, 0, size=64)
    first = scene.expressions[0].mask
    assert float(rows[0]["iou"]) == pytest.approx(first.sum() / first.size, abs=1e-6)  # all-ones mask
    summary, per_type = summaries(rows)
    assert summary[0]["n"] == str(len(rows))
    assert sum(int(t["n"]) for t in per_type) == len(rows)


def test_cli_writes_the_three_tables(tmp_path, capsys):
    argv = ["eval", "--task", "refseg", "--scenes", "2", "--size", "64", "--guidance", "saliency,uniform"]
    assert main([*argv, "--out", str(tmp_path)]) == 0
    for name in ("results.csv", "summary.csv", "summary_by_type.csv"):
        assert (tmp_path / name).is_file()
    with (tmp_path / "summary.csv").open() as f:
        assert {r["backend"] for r in csv.DictReader(f)} == {"saliency", "uniform"}
    assert main([*argv, "--guidance", "telepathy", "--out", str(tmp_path)]) == 2
    assert "unknown guidance" in capsys.readouterr().err


def test_cli_scores_a_scene_style_and_rejects_an_unknown_one(tmp_path, capsys):
    from mllmsc.cli.evaluate import SCENE_STYLES
    from mllmsc.data.scene_styles import STYLES

    assert SCENE_STYLES == STYLES  # the CLI's copy (kept to check arguments before imports)
    argv = ["eval", "--task", "refseg", "--scenes", "2", "--size", "64", "--guidance", "uniform"]
    assert main([*argv, "--style", "heldout", "--out", str(tmp_path / "h")]) == 0
    with (tmp_path / "h" / "results.csv").open() as f:
        texts = [r["text"] for r in csv.DictReader(f)]
    assert texts and all(t[0].isupper() for t in texts)  # held-out wording (the generator's is lower case)
    assert main([*argv, "--style", "cartoon", "--out", str(tmp_path / "c")]) == 2
    assert "--style must be one of" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()

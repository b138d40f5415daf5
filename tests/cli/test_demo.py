"""`mllmsc demo`: the command `make demo` runs, end to end on the shipped weights."""

import json

import pytest

from mllmsc.cli.main import main


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COLUMNS", "200")  # rich wraps the tables to the terminal width
        assert main(["demo", "--out", str(out)]) == 0
    return out


def test_demo_answers_the_ar_question_guided_and_uniform(demo_out):
    from mllmsc.cli.demo import QUESTION_INDEX, SCENE_INDEX, SCENE_SEED
    from mllmsc.data.scenes import generate_scene

    out = demo_out / "ar-question"
    question = [e for e in generate_scene(SCENE_SEED, SCENE_INDEX).expressions if e.type == "question"]
    truth = question[QUESTION_INDEX]
    reports = {name: json.loads((out / name / "report.json").read_text()) for name in ("guided", "uniform")}
    for report in reports.values():
        assert report["task"]["question"] == truth.text and report["task"]["answerer"] == "tiny-vqa"
        s = report["symbols"]
        assert s["payload"] + s["side_info"] == s["total"] <= s["budget"] == 256 * 256 * 3 // 384
    guided, uniform = reports["guided"], reports["uniform"]
    assert guided["guidance"]["backend"] == "tiny-refseg" and guided["guidance"]["used_query"]
    assert guided["metrics"]["roi_psnr"] > uniform["metrics"]["roi_psnr"] + 1.0
    # the example the demo shows: guidance keeps the answer, uniform loses it
    assert guided["task"]["answer"] == truth.answer != uniform["task"]["answer"]
    assert (out / "comparison.png").stat().st_size > 0


def test_demo_sends_the_photo_twice_and_importance_favours_the_face(demo_out):
    out = demo_out / "photo"
    reports = {
        name: json.loads((out / name / "report.json").read_text()) for name in ("uniform", "importance")
    }
    for name, report in reports.items():
        s = report["symbols"]
        assert s["payload"] + s["side_info"] == s["total"] <= s["budget"] == 512 * 512 * 3 // 16
        for file in ("received.png", "importance.png", "allocation.png", "report.png"):
            assert (out / name / file).stat().st_size > 0
    assert (out / "comparison.png").stat().st_size > 0  # the face zoomed, both runs
    uniform, guided = reports["uniform"], reports["importance"]
    assert uniform["method"] == "uniform-jscc" and guided["method"] == "ia-jscc"
    assert uniform["symbols"]["side_info"] == 0 and guided["symbols"]["side_info"] > 0
    # Both are scored on the same face mask; the guided run spends its symbols there.
    face = 140 * 160 / (512 * 512)
    assert guided["guidance"]["roi_fraction"] == pytest.approx(face)
    assert guided["metrics"]["roi_psnr"] > uniform["metrics"]["roi_psnr"] + 1.0
    assert guided["metrics"]["background_psnr"] < uniform["metrics"]["background_psnr"]


def test_demo_bad_arguments_exit_2(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "d"), "--channel", "smoke-signals"]) == 2
    assert "unknown channel" in capsys.readouterr().err

"""`mllmsc demo`: the command `make demo` runs, end to end on the shipped weights."""

import json

import pytest

from mllmsc.cli.main import main


def test_demo_sends_the_photo_twice_and_importance_favours_the_face(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps the table to the terminal width
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "uniform (Deep JSCC)" in printed and "importance (face box)" in printed
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

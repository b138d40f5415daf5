"""`mllmsc eval --task vqa`: the documented files and columns, seeds, resume, the symbol bill, intervals."""

import csv
import math

import pytest

from mllmsc.cli.main import main
from mllmsc.errors import UserError
from mllmsc.eval.vqa import (
    BY_TYPE_COLUMNS,
    RESULT_COLUMNS,
    SUMMARY_COLUMNS,
    VQA_METHODS,
    VQASpec,
    run_vqa,
    summarize,
    wilson,
)
from mllmsc.tasks.answers import ALL_ANSWERS


def read(path):
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def spec(tiny_codec_dir, **kw):
    base = dict(
        scenes=2, seed=0, methods=("guided", "oracle-mask", "uniform", "clean"), channels=("awgn",),
        snrs=(0.0, 12.0), cbrs=(1 / 48,), answerer="oracle", weights=tiny_codec_dir, size=96,
    )  # fmt: skip
    return VQASpec(**{**base, **kw})


@pytest.fixture(scope="module")
def run(tiny_codec_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("vqa")
    return out, run_vqa(spec(tiny_codec_dir), out)


def test_writes_one_row_per_question_and_setting(run, tiny_codec_dir):
    out, rows = run
    questions = spec(tiny_codec_dir).validated().questions
    assert questions and all(q[0] in (0, 1) for q in questions)
    assert len(rows) == len(questions) * 4 * 2
    assert list(read(out / "results.csv")[0]) == RESULT_COLUMNS
    assert {r["method"] for r in rows} == {"guided", "oracle-mask", "uniform", "clean"}
    assert {r["type"] for r in rows} <= {"colour", "count", "shape", "where"}


def test_oracle_answerer_is_always_right(run):
    _, rows = run
    assert all(r["correct"] == "1" and r["answer"] == r["truth"] for r in rows)
    assert all(r["truth"] in ALL_ANSWERS for r in rows)


def test_bill_iou_and_allocation_columns(run):
    _, rows = run
    by_setting = {}
    for r in rows:
        by_setting.setdefault((r["scene"], r["snr_db"], r["cbr"]), {}).setdefault(r["method"], []).append(r)
    for methods in by_setting.values():
        # guided never spends more channel symbols than uniform, side information included
        uniform = int(methods["uniform"][0]["symbols"])
        assert all(int(r["symbols"]) <= uniform for r in methods["guided"] + methods["oracle-mask"])
        assert all(int(r["symbols"]) == 0 for r in methods["clean"])
    for r in rows:
        if r["method"] == "oracle-mask":
            assert float(r["iou"]) == pytest.approx(1.0)
        if r["method"] in ("uniform", "clean"):
            assert r["iou"] == ""
        if r["method"] == "clean":
            assert r["psnr"] == "" or float(r["psnr"]) > 90  # a perfect copy: infinite PSNR, left empty
    # uniform spends the same per cell (up to the one-symbol remainder): ratio ≈ 1
    ratios = [float(r["k_ratio"]) for r in rows if r["method"] == "uniform" and r["k_ratio"]]
    assert ratios and all(abs(v - 1) < 0.1 for v in ratios)
    # the ground-truth mask concentrates symbols on the target
    assert all(float(r["k_ratio"]) > 2 for r in rows if r["method"] == "oracle-mask" and r["k_ratio"])


def test_question_agnostic_methods_share_one_transmission_per_scene(run):
    _, rows = run
    for method in ("uniform",):
        for scene in ("0", "1"):
            group = [
                r for r in rows if r["method"] == method and r["scene"] == scene and r["snr_db"] == "0.0"
            ]
            assert len({r["seed"] for r in group}) == 1 and len({r["psnr"] for r in group}) == 1
    guided = [r for r in rows if r["method"] == "guided" and r["scene"] == "0" and r["snr_db"] == "0.0"]
    assert len({r["seed"] for r in guided}) == len(guided)


def test_deterministic_and_resumes_after_a_kill(run, tiny_codec_dir, tmp_path):
    out, rows = run
    text = (out / "results.csv").read_text()
    lines = text.splitlines(keepends=True)
    # a killed run: half the rows and a torn last line
    (tmp_path / "results.csv").write_text("".join(lines[: len(lines) // 2]) + lines[-1][:20])
    again = run_vqa(spec(tiny_codec_dir), tmp_path)
    assert [r["seed"] for r in again] == [r["seed"] for r in rows]
    for a, b in zip(again, rows, strict=True):
        assert {k: a[k] for k in RESULT_COLUMNS if k != "time_ms"} == {
            k: b[k] for k in RESULT_COLUMNS if k != "time_ms"
        }


def test_summaries(run):
    _, rows = run
    summary, by_type = summarize(rows)
    assert len(summary) == 4 * 2
    assert list(summary[0]) == SUMMARY_COLUMNS and list(by_type[0]) == BY_TYPE_COLUMNS
    n = len(rows) // 8
    for s in summary:
        assert int(s["n"]) == n and float(s["accuracy"]) == 1.0
        assert float(s["accuracy_lo"]) == pytest.approx(wilson(n, n)[0], abs=1e-6)
    assert sum(int(t["n"]) for t in by_type) == len(rows)


def test_wilson_interval_closed_forms():
    z = 1.959963984540054
    lo, hi = wilson(0, 10)
    assert lo == 0 and hi == pytest.approx(z * z / (10 + z * z))
    lo, hi = wilson(10, 10)
    assert hi == pytest.approx(1) and lo == pytest.approx(10 / (10 + z * z))
    lo, hi = wilson(40, 100)  # a textbook value: 0.3094 – 0.4980
    assert lo == pytest.approx(0.3094, abs=1e-4) and hi == pytest.approx(0.4980, abs=1e-4)
    assert all(math.isnan(v) for v in wilson(0, 0))


def test_trained_answerer_answers_in_the_vocabulary(tiny_codec_dir, tiny_vqa_dir, tmp_path):
    rows = run_vqa(
        spec(
            tiny_codec_dir,
            methods=("uniform",),
            snrs=(12.0,),
            answerer="tiny-vqa",
            answerer_weights=tiny_vqa_dir,
        ),
        tmp_path,
    )
    assert rows and all(r["answer"] in ALL_ANSWERS for r in rows)
    assert all(0 <= float(r["confidence"]) <= 1 for r in rows)


def test_bad_specs_are_user_errors(tiny_codec_dir, tmp_path):
    with pytest.raises(UserError, match="unknown VQA method"):
        spec(tiny_codec_dir, methods=("telepathy",)).validated()
    with pytest.raises(UserError, match="answerer"):
        spec(tiny_codec_dir, answerer="sphinx").validated()
    with pytest.raises(UserError, match="config.json"):  # a folder without weights
        spec(tiny_codec_dir, answerer="tiny-vqa", answerer_weights=tmp_path).validated()
    assert set(VQA_METHODS) == {
        "guided", "oracle-mask", "uniform", "generative-balanced", "generative-quality", "digital", "clean"
    }  # fmt: skip


def test_cli(tiny_codec_dir, tmp_path, capsys):
    argv = [
        "eval", "--task", "vqa", "--scenes", "1", "--size", "96", "--snr", "0,12", "--cbr", "1/48",
        "--method", "uniform,clean", "--answerer", "oracle", "--weights", str(tiny_codec_dir),
        "--out", str(tmp_path),
    ]  # fmt: skip
    assert main(argv) == 0
    for name in ("results.csv", "summary.csv", "summary_by_type.csv"):
        assert read(tmp_path / name)
    assert (tmp_path / "accuracy_vs_snr.png").read_bytes()[:4] == b"\x89PNG"
    assert "accuracy" in capsys.readouterr().out
    for bad, fragment in (
        (["--method", "magic"], "unknown VQA method"),
        (["--answerer", "nobody"], "answerer"),
    ):
        assert main([*argv, *bad]) == 2
        assert fragment in capsys.readouterr().err


def test_the_cli_floor_default_is_the_evaluations():
    import inspect

    from mllmsc.cli.evaluate import evaluate
    from mllmsc.eval.vqa import VQA_FLOOR, VQASpec

    cli_default = inspect.signature(evaluate).parameters["floor"].default.default
    spec = VQASpec(scenes=1, seed=0, methods=("guided",), channels=("awgn",), snrs=(12.0,), cbrs=(1 / 96,))
    assert cli_default == VQA_FLOOR == spec.floor

"""`mllmsc eval` sweeps: the grid, deterministic seeds, resume after a kill, workers, summary."""

import csv

import numpy as np
import pytest
from PIL import Image

from mllmsc.cli.main import main
from mllmsc.errors import UserError
from mllmsc.eval.sweep import RESULT_COLUMNS, SUMMARY_COLUMNS, Row, SweepSpec, _chunks, run_sweep, summarize

METHODS = ("uniform-jscc", "ia-jscc", "digital-capacity")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    (root / "img").mkdir()
    (root / "roi").mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        yy, xx = np.mgrid[0:48, 0:64]
        img = np.stack([xx * 4, yy * 5, (xx + yy) * 2], -1) + rng.integers(0, 40, (48, 64, 3))
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(root / "img" / f"im{i}.png")
        mask = np.zeros((48, 64), np.uint8)
        mask[10:30, 16:48] = 255
        Image.fromarray(mask).save(root / "roi" / f"im{i}.png")
    return root


def spec(folders, tiny_codec_dir, **kw):
    base = dict(
        data=folders / "img",
        roi_masks=folders / "roi",
        methods=METHODS,
        channels=("awgn",),
        snrs=(1.0, 10.0),
        cbrs=(1 / 16, 1 / 8),
        seed=3,
        weights=tiny_codec_dir,
    )
    return SweepSpec(**{**base, **kw})


def strip_time(rows):
    return [{k: v for k, v in r.items() if k != "time_ms"} for r in rows]


def read(path):
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_grid_is_complete_and_rows_keep_the_budget(folders, tiny_codec_dir, tmp_path):
    rows = run_sweep(spec(folders, tiny_codec_dir), tmp_path)
    assert len(rows) == 2 * len(METHODS) * 2 * 2
    assert list(rows[0]) == RESULT_COLUMNS
    for r in rows:
        budget = int(float(r["cbr"]) * 3 * 48 * 64)
        assert int(r["symbols"]) <= budget
        assert (int(r["side_info"]) > 0) == (r["method"] == "ia-jscc")
        assert r["roi_psnr"] and r["background_psnr"]
        assert r["lost"] == "0" or r["method"] == "digital-capacity"  # nothing fits 48×64 at 1 dB
    assert read(tmp_path / "results.csv") == rows


def test_seeds_depend_on_the_row_only():
    a = Row("im0.png", "uniform-jscc", "awgn", 1.0, 0.0625)
    assert a.seed(3) == Row("im0.png", "uniform-jscc", "awgn", 1.0, 0.0625).seed(3)
    assert a.seed(3) != a.seed(4) != Row("im1.png", "uniform-jscc", "awgn", 1.0, 0.0625).seed(3)


def test_resume_after_a_kill_redoes_only_missing_rows(folders, tiny_codec_dir, tmp_path):
    small = spec(folders, tiny_codec_dir, snrs=(10.0,))
    full = run_sweep(small, tmp_path / "a")
    # a sweep killed mid-write: 5 complete rows and half of the sixth
    lines = (tmp_path / "a" / "results.csv").read_text().splitlines(keepends=True)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "results.csv").write_text("".join(lines[:6]) + lines[6][: len(lines[6]) // 2])
    calls = []
    resumed = run_sweep(small, tmp_path / "b", progress=lambda d, t: calls.append(d))
    assert calls[0] == 5  # the torn row is redone, the five complete ones are kept
    assert strip_time(resumed) == strip_time(full)
    assert [r["time_ms"] for r in resumed[:5]] == [r["time_ms"] for r in full[:5]]


def test_two_workers_give_the_serial_results(folders, tiny_codec_dir, tmp_path):
    small = spec(folders, tiny_codec_dir, methods=("uniform-jscc", "ia-jscc"), cbrs=(1 / 16,))
    serial = run_sweep(small, tmp_path / "serial")
    parallel = run_sweep(small, tmp_path / "parallel", workers=2)
    assert strip_time(parallel) == strip_time(serial)


def test_ray_local_gives_the_serial_results(folders, tiny_codec_dir, tmp_path):
    pytest.importorskip("ray")
    small = spec(folders, tiny_codec_dir, methods=("uniform-jscc", "ia-jscc"), cbrs=(1 / 16,))
    serial = run_sweep(small, tmp_path / "serial")
    fanned = run_sweep(small, tmp_path / "ray", workers=2, ray="local")
    assert strip_time(fanned) == strip_time(serial)
    # results.csv on disk is in grid order whatever order the Ray tasks finished in
    assert (tmp_path / "ray" / "results.csv").read_text().splitlines()[1].split(",")[:5] == [
        serial[0][c] for c in RESULT_COLUMNS[:5]
    ]


def test_chunks_never_mix_images():
    rows = [Row(f"im{i // 5}.png", "uniform-jscc", "awgn", float(i % 5), 0.0625) for i in range(12)]
    chunks = _chunks(rows, 3)
    assert [len(c) for c in chunks] == [3, 2, 3, 2, 2]
    assert all(len({r.image for r in c}) == 1 for c in chunks)
    assert [r for c in chunks for r in c] == rows


def test_summary_has_one_row_per_setting_with_intervals(folders, tiny_codec_dir, tmp_path):
    rows = run_sweep(spec(folders, tiny_codec_dir, methods=("uniform-jscc",)), tmp_path)
    summary = summarize(rows)
    assert len(summary) == 4 and all(s["n"] == "2" for s in summary)
    assert set(summary[0]) == set(SUMMARY_COLUMNS)
    for s in summary:
        group = [float(r["psnr"]) for r in rows if (r["snr_db"], r["cbr"]) == (s["snr_db"], s["cbr"])]
        assert float(s["psnr"]) == pytest.approx(sum(group) / 2, abs=1e-5)
        # t(0.975, 1) · s / √2 for two values is 12.706 · |a − b| / 2
        assert float(s["psnr_ci95"]) == pytest.approx(12.7062 * abs(group[0] - group[1]) / 2, rel=1e-3)


def test_bad_specs_are_user_errors(folders, tiny_codec_dir, tmp_path):
    with pytest.raises(UserError, match="unknown method"):
        spec(folders, tiny_codec_dir, methods=("telepathy",)).validated()
    with pytest.raises(UserError, match="roi-masks"):
        spec(folders, tiny_codec_dir, roi_masks=None).validated()
    with pytest.raises(UserError, match="no images"):
        spec(folders, tiny_codec_dir, data=tmp_path).validated()


def test_cli_writes_results_summary_and_plots(folders, tiny_codec_dir, tmp_path, capsys):
    argv = [
        "eval", "--data", str(folders / "img"), "--roi-masks", str(folders / "roi"), "--snr", "1,10",
        "--cbr", "1/16", "--channel", "awgn,rayleigh", "--method", "uniform-jscc,ia-jscc",
        "--out", str(tmp_path), "--weights", str(tiny_codec_dir),
    ]  # fmt: skip
    assert main(argv) == 0
    assert len(read(tmp_path / "results.csv")) == 2 * 2 * 2 * 2
    assert len(read(tmp_path / "summary.csv")) == 2 * 2 * 2
    for name in ("psnr_vs_snr.png", "psnr_vs_cbr.png", "ms_ssim_vs_snr.png", "roi_vs_background.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    assert main(["report", str(tmp_path)]) == 0
    page = (tmp_path / "report.md").read_text()
    assert "## PSNR (dB), rayleigh, CBR 0.0625" in page and "| uniform-jscc |" in page
    assert "<table>" in (tmp_path / "report.html").read_text()
    assert main(["report", str(tmp_path / "nothing")]) == 2
    for bad, fragment in (
        (["--method", "magic"], "unknown method"),
        (["--cbr", "2"], "CBR"),
        (["--task", "teleport"], "unknown eval task"),
        (["--channel", "awgn,,rician"], "comma-separated"),
    ):
        assert main([*argv, *bad]) == 2
        assert fragment in capsys.readouterr().err

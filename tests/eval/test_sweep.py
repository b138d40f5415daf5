"""`mllmsc eval` sweeps: the grid, deterministic seeds, resume after a kill, workers, summary, plots."""

import csv
import shutil

import numpy as np
import pytest
from PIL import Image

from mllmsc.cli.main import main
from mllmsc.errors import UserError
from mllmsc.eval.sweep import (
    RESULT_COLUMNS,
    SUMMARY_COLUMNS,
    Row,
    SweepSpec,
    _chunks,
    draw_roi_vs_background,
    error_bars,
    run_sweep,
    summarize,
    write_plots,
    write_summary,
)

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


def summary_row(method, snr, cbr, **values):
    """A summary.csv row with every column; unset metrics are empty."""
    return {
        **dict.fromkeys(SUMMARY_COLUMNS, ""), "method": method, "channel": "awgn", "snr_db": str(snr),
        "cbr": str(cbr), "lost": "0", "n": "2", "roi_n": "2", **values,
    }  # fmt: skip


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


def test_roi_n_counts_only_the_images_whose_mask_is_not_empty(folders, tiny_codec_dir, tmp_path):
    shutil.copytree(folders / "roi", tmp_path / "roi")
    Image.fromarray(np.zeros((48, 64), np.uint8)).save(tmp_path / "roi" / "im1.png")  # no ROI at all
    one = spec(folders, tiny_codec_dir, roi_masks=tmp_path / "roi", methods=("uniform-jscc",), snrs=(10.0,))
    rows = run_sweep(one, tmp_path / "out")
    assert [bool(r["roi_psnr"]) for r in rows] == [True, True, False, False]  # im0 × 2 CBRs, im1 × 2
    summary = summarize(rows)
    assert [(s["n"], s["roi_n"]) for s in summary] == [("2", "1"), ("2", "1")]
    for s in summary:
        # the ROI mean is im0's alone; the background one averages both images
        (im0,) = [r for r in rows if r["cbr"] == s["cbr"] and r["image"] == "im0.png"]
        assert float(s["roi_psnr"]) == pytest.approx(float(im0["roi_psnr"]), abs=1e-5)
    write_summary(tmp_path / "out", summary)
    with (tmp_path / "out" / "summary.csv").open(newline="") as f:
        assert next(csv.reader(f))[-3:] == ["lost", "n", "roi_n"]
    assert [r["roi_n"] for r in read(tmp_path / "out" / "summary.csv")] == ["1", "1"]


def test_ms_ssim_error_bars_stop_at_one_and_psnr_ones_do_not():
    means, halves = [0.99, 0.5, 0.7], [0.05, 0.1, float("nan")]
    below, above = error_bars("ms_ssim", means, halves)
    assert [m + a for m, a in zip(means, above, strict=True)] == pytest.approx([1.0, 0.6, 0.7])
    assert below == pytest.approx([0.05, 0.1, 0.0])  # the lower end is the t-interval's
    assert error_bars("psnr", [30.0, 0.99], [2.0, 0.05]) == ([2.0, 0.05], [2.0, 0.05])


def test_plots_skip_an_axis_with_one_value(tmp_path):
    summary = [
        summary_row(m, snr, 0.0625, psnr=f"{20 + snr:.1f}", psnr_ci95="1", ms_ssim="0.9", ms_ssim_ci95="0.2")
        for m in ("uniform-jscc", "ia-jscc")
        for snr in (1.0, 10.0)
    ]
    (tmp_path / "psnr_vs_cbr.png").write_bytes(b"from a sweep over several CBRs")
    written = write_plots(tmp_path, summary)
    assert sorted(p.name for p in written) == ["ms_ssim_vs_snr.png", "psnr_vs_snr.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ms_ssim_vs_snr.png", "psnr_vs_snr.png"]
    one_snr = [
        {**r, "snr_db": "10.0", "cbr": str(cbr)}
        for r, cbr in zip(summary, (0.0625, 0.125, 0.0625, 0.125), strict=True)
    ]
    assert sorted(p.name for p in write_plots(tmp_path, one_snr)) == ["ms_ssim_vs_cbr.png", "psnr_vs_cbr.png"]


def test_roi_plot_labels_points_with_their_snr_and_draws_y_equals_x():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = [
        summary_row("ia-jscc", 1.0, 0.0625, roi_psnr="24", background_psnr="20"),
        summary_row("ia-jscc", 10.0, 0.0625, roi_psnr="30", background_psnr="27"),
        summary_row("uniform-jscc", 10.0, 0.0625, roi_psnr="27", background_psnr="28"),
    ]
    fig, ax = plt.subplots()
    draw_roi_vs_background(ax, summary)
    assert sorted(t.get_text() for t in ax.texts) == ["1 dB", "10 dB", "10 dB"]
    (diagonal,) = [line for line in ax.get_lines() if line.get_label() == "ROI = background"]
    assert diagonal.get_linestyle() == "--"
    assert diagonal.get_slope() == 1 and diagonal.get_xy1() == (0, 0)
    assert ax.get_xlim()[0] > 15 and ax.get_ylim()[0] > 15  # the line does not stretch the view to 0 dB
    plt.close(fig)


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
    for name in ("psnr_vs_snr.png", "ms_ssim_vs_snr.png", "roi_vs_background.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    assert not list(tmp_path.glob("*_vs_cbr.png"))  # one CBR: nothing to draw against it
    assert main(["report", str(tmp_path)]) == 0
    page = (tmp_path / "report.md").read_text()
    assert "## PSNR (dB), rayleigh, CBR 0.0625" in page and "| uniform-jscc |" in page
    assert "## ROI PSNR (dB), awgn, CBR 0.0625" in page and "vs_cbr" not in page
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


def test_cli_hands_the_refiner_and_sd_folders_to_their_methods(
    folders, tiny_codec_dir, tiny_refiner_dir, tmp_path, capsys
):
    argv = [
        "eval", "--data", str(folders / "img"), "--snr", "10", "--cbr", "1/16", "--channel", "awgn",
        "--method", "generative-balanced", "--weights", str(tiny_codec_dir),
        "--refiner", str(tiny_refiner_dir), "--out", str(tmp_path / "ok"),
    ]  # fmt: skip
    assert main(argv) == 0
    rows = read(tmp_path / "ok" / "results.csv")
    assert len(rows) == 2 and {r["method"] for r in rows} == {"generative-balanced"}
    # the folder given is the one loaded: a codec folder is not a refiner
    assert main([*argv[:-4], "--refiner", str(tiny_codec_dir), "--out", str(tmp_path / "bad")]) == 2
    assert "generative-refiner" in capsys.readouterr().err
    sd = ["--method", "sd-latent", "--out", str(tmp_path / "sd")]
    assert main([*argv[:9], *sd]) == 2  # no --sd-model: one line, before any row runs
    assert "sd_model" in capsys.readouterr().err
    assert main([*argv[:9], *sd, "--sd-model", str(tmp_path)]) == 2
    assert "not a Stable Diffusion folder" in capsys.readouterr().err


def test_common_seeds_give_every_method_of_a_setting_the_same_draw(folders, tiny_codec_dir, tmp_path):
    """generative-fast is uniform-jscc itself: with common seeds it meets the same fade and matches
    it row for row; without, each method draws its own."""
    methods = ("uniform-jscc", "generative-fast")
    kw = dict(methods=methods, channels=("rayleigh",), snrs=(3.0,), cbrs=(1 / 16,), roi_masks=None)
    paired = run_sweep(spec(folders, tiny_codec_dir, common_seeds=True, **kw), tmp_path / "paired")
    apart = run_sweep(spec(folders, tiny_codec_dir, **kw), tmp_path / "apart")
    for rows, same in ((paired, True), (apart, False)):
        by = {(r["image"], r["method"]): r for r in rows}
        for image in ("im0.png", "im1.png"):
            a, b = by[(image, methods[0])], by[(image, methods[1])]
            assert (a["seed"] == b["seed"]) is same and (a["psnr"] == b["psnr"]) is same

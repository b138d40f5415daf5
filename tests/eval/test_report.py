"""`mllmsc report DIR`: the tables of report.md / report.html from a sweep's summary.csv."""

import pytest

from mllmsc.errors import UserError
from mllmsc.eval.report import write_report
from mllmsc.eval.sweep import SUMMARY_COLUMNS, write_summary


def summary_row(method, snr, **values):
    """A summary.csv row (AWGN, CBR 1/16) with every column; unset metrics are empty."""
    return {
        **dict.fromkeys(SUMMARY_COLUMNS, ""), "method": method, "channel": "awgn", "snr_db": str(snr),
        "cbr": "0.0625", "psnr": "25.0", "psnr_ci95": "0.5", "ms_ssim": "0.9", "ms_ssim_ci95": "0.01",
        "lost": "0", "n": "4", "roi_n": "0", **values,
    }  # fmt: skip


def test_roi_psnr_table_has_methods_by_snr_and_says_how_many_images_had_an_roi(tmp_path):
    write_summary(
        tmp_path,
        [
            summary_row("ia-jscc", 1.0, roi_psnr="27.5", roi_psnr_ci95="0.8", roi_n="4"),
            summary_row("ia-jscc", 10.0, roi_psnr="31.25", roi_psnr_ci95="0.5", roi_n="3"),  # one empty mask
            summary_row("uniform-jscc", 1.0, roi_psnr="24.0", roi_psnr_ci95="0.7", roi_n="4"),
        ],
    )
    md, page = write_report(tmp_path)
    text = md.read_text()
    table = text.split("## ROI PSNR (dB), awgn, CBR 0.0625\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert table == [
        "| method | 1 dB | 10 dB |",
        "|---|---|---|",
        "| ia-jscc | 27.50 ± 0.80 | 31.25 ± 0.50 (3 of 4 images) |",
        "| uniform-jscc | 24.00 ± 0.70 | — |",
    ]
    assert "<h2>ROI PSNR (dB), awgn, CBR 0.0625</h2>" in page.read_text()


def test_no_roi_table_without_roi_masks(tmp_path):
    write_summary(tmp_path, [summary_row("uniform-jscc", 1.0), summary_row("uniform-jscc", 10.0)])
    md, page = write_report(tmp_path)
    assert "## PSNR (dB), awgn, CBR 0.0625" in md.read_text()
    assert "ROI" not in md.read_text() and "ROI" not in page.read_text()


def test_a_summary_from_before_roi_n_still_reports(tmp_path):
    columns = [c for c in SUMMARY_COLUMNS if c != "roi_n"]
    row = summary_row("ia-jscc", 1.0, roi_psnr="27.5", roi_psnr_ci95="0.8")
    (tmp_path / "summary.csv").write_text(",".join(columns) + "\n" + ",".join(row[c] for c in columns) + "\n")
    md, _ = write_report(tmp_path)
    assert "| ia-jscc | 27.50 ± 0.80 |" in md.read_text()


def test_a_folder_without_a_summary_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no summary.csv"):
        write_report(tmp_path)

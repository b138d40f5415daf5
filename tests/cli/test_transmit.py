"""`mllmsc transmit`: the DESIGN.md §4 contract, on a tiny random codec."""

import json

import numpy as np
import pytest
from PIL import Image

from mllmsc.cli.main import main

CONTRACT = {
    "image", "query", "height", "width", "channel", "snr_db", "cbr_target", "cbr_used",
    "symbols", "guidance", "metrics", "latency_ms", "method",
}  # fmt: skip


def run(tmp_path, photo_path, tiny_codec_dir, *extra):
    out = tmp_path / "out"
    argv = ["transmit", str(photo_path), "--out", str(out), "--weights", str(tiny_codec_dir), *extra]
    return main(argv), out


def test_writes_every_file_and_a_report_that_keeps_the_contract(tmp_path, photo_path, tiny_codec_dir):
    code, out = run(
        tmp_path,
        photo_path,
        tiny_codec_dir,
        "--snr",
        "10",
        "--cbr",
        "1/16",
        "--query",
        "the face",
        "--guidance",
        "uniform",
    )
    assert code == 0
    for name in ("received.png", "importance.png", "allocation.png"):
        assert Image.open(out / name).size == (128, 96)
    width, height = Image.open(out / "report.png").size
    assert width > 4 * 128 and height > 96  # four panels side by side, with titles
    report = json.loads((out / "report.json").read_text())
    assert set(report) == CONTRACT
    assert report["method"] == "uniform-jscc"
    s = report["symbols"]
    assert s["payload"] + s["side_info"] == s["total"] <= s["budget"] == int(3 * 96 * 128 / 16)
    assert s["side_info"] == 0  # uniform guidance
    assert report["cbr_used"] == pytest.approx(s["total"] / (3 * 96 * 128))
    assert report["guidance"] == {"backend": "uniform", "roi_fraction": 1.0, "used_query": False}
    m = report["metrics"]
    assert set(m) == {"psnr", "ms_ssim", "roi_psnr", "background_psnr", "vif", "niqe", "lpips", "dists"}
    assert m["background_psnr"] is None  # the uniform mask leaves no background
    assert m["lpips"] is None  # no LPIPS weights here
    assert m["roi_psnr"] == pytest.approx(m["psnr"])
    assert set(report["latency_ms"]) == {"guidance", "allocate", "encode", "channel", "decode", "total"}


def test_default_guidance_is_auto_and_says_what_ran(tmp_path, photo_path, tiny_codec_dir):
    code, out = run(tmp_path, photo_path, tiny_codec_dir, "--query", "the face")
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["guidance"]["backend"] == "saliency"  # no CLIPSeg or tiny-refseg weights here
    assert report["guidance"]["used_query"] is False
    s = report["symbols"]
    assert s["side_info"] > 0 and s["payload"] + s["side_info"] == s["total"] <= s["budget"]


def test_mask_guidance_sends_side_info_and_roi_mask_is_used_for_metrics(tmp_path, photo_path, tiny_codec_dir):
    mask = np.zeros((96, 128), np.uint8)
    mask[20:60, 30:90] = 255
    Image.fromarray(mask).save(tmp_path / "roi.png")
    code, out = run(
        tmp_path, photo_path, tiny_codec_dir,
        "--mask", str(tmp_path / "roi.png"), "--roi-mask", str(tmp_path / "roi.png"), "--channel", "rayleigh",
    )  # fmt: skip
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    s = report["symbols"]
    assert report["guidance"]["backend"] == "mask"
    assert s["side_info"] > 0 and s["payload"] + s["side_info"] == s["total"] <= s["budget"]
    assert report["guidance"]["roi_fraction"] == pytest.approx(40 * 60 / (96 * 128))
    assert report["metrics"]["background_psnr"] is not None
    fade = report["fade"]  # Rayleigh: the realised draw is on record
    assert fade["mean_gain"] > 0
    assert fade["effective_snr_db"] == pytest.approx(
        report["snr_db"] + 10 * np.log10(fade["mean_gain"]), abs=1e-2
    )


@pytest.mark.parametrize(
    "extra, fragment",
    [
        (["--cbr", "0"], "CBR"),
        (["--cbr", "3/2"], "CBR"),
        (["--snr", "loud"], "SNR"),
        (["--snr", "-400"], "[-30, 50] dB"),
        (["--snr", "1e9"], "[-30, 50] dB"),
        (["--query", "x" * 100_000], "limit is 500"),
        (["--channel", "carrier-pigeon"], "unknown channel"),
        (["--guidance", "telepathy"], "unknown guidance"),
        (["--guidance", "mask"], "--mask"),
        (["--guidance", "saliency", "--guidance-model", "x"], "does not take --guidance-model"),
        (["--guidance", "clipseg", "--guidance-model", "/nonexistent/clipseg"], "clipseg"),
        (["--box", "1,2,3"], "--box"),
        (["--cbr", "1/2"], "more than this codec sends"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tmp_path, photo_path, tiny_codec_dir, capsys, extra, fragment):
    code, out = run(tmp_path, photo_path, tiny_codec_dir, *extra)
    err = capsys.readouterr().err
    assert code == 2 and fragment in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (out / "report.json").exists()


@pytest.mark.parametrize("content", [b"", b"not an image at all", None])
def test_bad_images_exit_2(tmp_path, tiny_codec_dir, capsys, content):
    path = tmp_path / "bad.png"
    if content is not None:
        path.write_bytes(content)
    assert main(["transmit", str(path), "--out", str(tmp_path / "o"), "--weights", str(tiny_codec_dir)]) == 2
    assert "bad.png" in capsys.readouterr().err


def test_missing_weights_and_clobbering_outputs_are_refused(tmp_path, photo_path, tiny_codec_dir, capsys):
    assert main(["transmit", str(photo_path), "--out", str(tmp_path / "o"), "--weights", str(tmp_path)]) == 2
    assert "config.json" in capsys.readouterr().err
    # an input named like an output in the --out folder is never overwritten
    victim = tmp_path / "received.png"
    victim.write_bytes(photo_path.read_bytes())
    before = victim.read_bytes()
    assert main(["transmit", str(victim), "--out", str(tmp_path), "--weights", str(tiny_codec_dir)]) == 2
    assert victim.read_bytes() == before


def test_answer_adds_the_task_block_and_the_answer_to_the_report(
    tmp_path, photo_path, tiny_codec_dir, tiny_vqa_dir
):
    from mllmsc.tasks.answers import VOCABULARY

    code, out = run(
        tmp_path, photo_path, tiny_codec_dir,
        "--query", "what colour is the ring?", "--answer", "--answerer-weights", str(tiny_vqa_dir),
    )  # fmt: skip
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    task = report["task"]
    assert set(task) == {"question", "answer", "answerer", "confidence"}
    assert task["question"] == "what colour is the ring?" and task["answerer"] == "tiny-vqa"
    assert task["answer"] in VOCABULARY["colour"] and 0 < task["confidence"] <= 1
    assert set(report) == CONTRACT | {"task"}


def test_a_question_the_answerer_cannot_read_gets_null_and_a_reason(
    tmp_path, photo_path, tiny_codec_dir, tiny_vqa_dir
):
    code, out = run(
        tmp_path, photo_path, tiny_codec_dir,
        "--query", "is this a good photo?", "--answer", "--answerer-weights", str(tiny_vqa_dir),
    )  # fmt: skip
    assert code == 0
    task = json.loads((out / "report.json").read_text())["task"]
    assert task["answer"] is None and task["confidence"] is None and "not a question about" in task["reason"]


def test_answer_without_a_question_or_weights_exits_2(tmp_path, photo_path, tiny_codec_dir, capsys):
    code, out = run(tmp_path, photo_path, tiny_codec_dir, "--answer")
    err = capsys.readouterr().err
    assert code == 2 and "--query" in err and err.count("\n") == 1
    code, out = run(
        tmp_path,
        photo_path,
        tiny_codec_dir,
        "--query",
        "how many?",
        "--answer",
        "--answerer-weights",
        str(tmp_path),
    )
    assert code == 2 and "config.json" in capsys.readouterr().err
    assert not (out / "report.json").exists()


def test_an_empty_mask_falls_back_to_uniform_and_says_so(
    tmp_path, photo_path, tiny_codec_dir, capsys, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "200")
    Image.fromarray(np.zeros((96, 128), np.uint8)).save(tmp_path / "empty.png")
    code, out = run(tmp_path, photo_path, tiny_codec_dir, "--mask", str(tmp_path / "empty.png"))
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["symbols"]["side_info"] == 0  # no side information describing nothing
    assert report["symbols"]["total"] <= report["symbols"]["budget"]
    assert "flat" in report["guidance"]["fallback"]
    assert "uniform allocation" in capsys.readouterr().out


def test_the_summary_names_the_backend_and_whether_the_query_was_used(
    tmp_path, photo_path, tiny_codec_dir, capsys, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "200")
    code, _ = run(tmp_path, photo_path, tiny_codec_dir, "--query", "the motorbike rider")
    printed = capsys.readouterr().out
    assert code == 0 and "guidance saliency (query NOT used)" in printed


def _png_header_only(path, width: int, height: int) -> None:
    """A PNG that declares ``width × height`` (its IHDR) with no pixel data: nothing to decode."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"") + chunk(b"IEND", b""))


def test_transmit_refuses_an_image_over_the_pixel_limit(tmp_path, tiny_codec_dir, capsys) -> None:
    from mllmsc.cli.main import main
    from mllmsc.limits import MAX_PIXELS

    side = int(MAX_PIXELS**0.5) + 1  # side² > MAX_PIXELS
    _png_header_only(tmp_path / "huge.png", side, side)
    out = tmp_path / "out"
    code = main(["transmit", str(tmp_path / "huge.png"), "--out", str(out), "--weights", str(tiny_codec_dir)])
    err = capsys.readouterr().err
    assert code == 2 and f"limit of {MAX_PIXELS}" in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (out / "report.json").exists()


def test_the_generative_decoder_adds_its_block_and_keeps_the_symbols(
    tmp_path, photo_path, tiny_codec_dir, tiny_refiner_dir
):
    code, out = run(tmp_path, photo_path, tiny_codec_dir, "--guidance", "uniform")
    assert code == 0
    plain = json.loads((out / "report.json").read_text())
    assert "decoder" not in plain
    code, out = run(
        tmp_path, photo_path, tiny_codec_dir, "--guidance", "uniform",
        "--decoder", "generative", "--mode", "quality", "--decoder-weights", str(tiny_refiner_dir),
    )  # fmt: skip
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["decoder"]["name"] == "generative" and report["decoder"]["mode"] == "quality"
    assert report["decoder"]["steps"] == 16 and report["decoder"]["latency_ms"] > 0
    assert report["symbols"] == plain["symbols"]  # the decoder changes the picture, not the bill


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (("--decoder", "magic"), "unknown decoder 'magic'"),
        (("--decoder", "generative", "--mode", "turbo"), "--mode must be one of"),
        (("--decoder", "generative", "--decoder-weights", "/nonexistent"), "no such folder"),
    ],
)
def test_bad_decoder_arguments_exit_2(tmp_path, photo_path, tiny_codec_dir, capsys, extra, fragment):
    code, _ = run(tmp_path, photo_path, tiny_codec_dir, *extra)
    err = capsys.readouterr().err
    assert code == 2 and fragment in err and "Traceback" not in err

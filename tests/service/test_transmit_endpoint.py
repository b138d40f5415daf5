"""``POST /v1/transmit`` (the page's call): five images and the two reports of ``mllmsc transmit``."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from mllmsc.service import wire

from .conftest import post_form, request

CONTRACT = {
    "image", "query", "height", "width", "channel", "snr_db", "cbr_target", "cbr_used",
    "symbols", "guidance", "metrics", "latency_ms", "method",
}  # fmt: skip
PANELS = ("original", "importance", "allocation", "uniform", "guided")


def image_of(url: str) -> Image.Image:
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix)
    return Image.open(io.BytesIO(wire.unb64(url[len(prefix) :])))


def check_pair(body: dict, size: tuple[int, int]) -> None:
    assert set(body["images"]) == set(PANELS)
    for name in PANELS:
        assert image_of(body["images"][name]).size == (size[1], size[0]), name
    uniform, guided = body["reports"]["uniform"], body["reports"]["guided"]
    assert set(uniform) >= CONTRACT and set(guided) >= CONTRACT
    assert uniform["method"] == "uniform-jscc" and guided["method"] == "ia-jscc"
    assert (
        uniform["symbols"]["side_info"] == 0 and uniform["symbols"]["budget"] == guided["symbols"]["budget"]
    )
    for report in (uniform, guided):
        s = report["symbols"]
        assert s["payload"] + s["side_info"] == s["total"] <= s["budget"]
        assert report["metrics"]["psnr"] is not None and report["metrics"]["roi_psnr"] is not None


def test_an_upload_goes_through_both_links(edge, photo_path):
    fields = {
        "intent": "the face",
        "snr_db": "4",
        "cbr": "1/16",
        "channel": "rayleigh",
        "guidance": "saliency",
    }
    answer = post_form(
        edge.url + "/v1/transmit", fields, {"image": ("face.png", photo_path.read_bytes(), "image/png")}
    )
    assert answer.status == 200, answer.body[:300]
    body = answer.json()
    assert body["resized_from"] == [96, 128]  # the fixture's edge sends at most 96 px a side
    check_pair(body, (72, 96))
    guided = body["reports"]["guided"]
    assert guided["image"] == "face.png" and guided["channel"] == "rayleigh" and guided["snr_db"] == 4.0
    assert (
        guided["guidance"]["backend"] == "saliency"
        and body["reports"]["uniform"]["guidance"]["backend"] == "uniform"
    )
    assert "scene" not in body and "task" not in guided


def test_a_scene_question_is_answered_after_both_links(edge):
    scene = request(edge.url + "/v1/scene?seed=0&index=0").json()
    question = next(e for e in scene["expressions"] if e["type"] == "question")
    fields = {
        "scene_seed": "0",
        "scene_index": "0",
        "intent": question["text"],
        "snr_db": "12",
        "cbr": "1/32",
    }
    answer = post_form(edge.url + "/v1/transmit", fields)
    assert answer.status == 200, answer.body[:300]
    body = answer.json()
    check_pair(body, (96, 96))
    assert body["scene"] == {"seed": 0, "index": 0, "truth": question["answer"]}
    for run in ("uniform", "guided"):
        task = body["reports"][run]["task"]
        assert task["question"] == question["text"] and task["answerer"] == "tiny-vqa"


def test_a_bundled_sample(edge):
    answer = post_form(edge.url + "/v1/transmit", {"sample": "coffee", "guidance": "uniform", "cbr": "0.05"})
    assert answer.status == 200, answer.body[:300]
    body = answer.json()
    assert body["image"] == "coffee" and body["resized_from"] == [400, 600]
    check_pair(body, (64, 96))


def test_the_generative_decoder_refines_both_links(edge):
    from mllmsc.decoder.generative import MODE_SETTINGS

    fields = {"sample": "coffee", "decoder": "generative", "mode": "balanced", "snr_db": "3"}
    answer = post_form(edge.url + "/v1/transmit", fields)
    assert answer.status == 200, answer.body[:300]
    body = answer.json()
    check_pair(body, (64, 96))
    plain = post_form(edge.url + "/v1/transmit", {**fields, "decoder": "fast"}).json()
    for run in ("uniform", "guided"):
        decoded = body["reports"][run]["decoder"]
        assert decoded["name"] == "generative" and decoded["mode"] == "balanced"
        assert decoded["steps"] == MODE_SETTINGS["balanced"][0]
        assert "decoder" not in plain["reports"][run]
        # Same link, same seed: the symbols match and only the receiver's last stage differs.
        assert body["reports"][run]["symbols"] == plain["reports"][run]["symbols"]
        assert body["images"][run] != plain["images"][run]


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({}, "invalid_request"),  # no source
        ({"sample": "coffee", "scene_seed": "0", "scene_index": "0"}, "invalid_request"),  # two
        ({"scene_seed": "0"}, "invalid_request"),
        ({"sample": "mona-lisa"}, "unknown_sample"),
        ({"sample": "coffee", "cbr": "1/100000"}, "cannot_transmit"),  # no room for the side information
        ({"sample": "coffee", "seed": "-1"}, "invalid_request"),
        ({"sample": "coffee", "decoder": "vae"}, "unknown_decoder"),
        ({"sample": "coffee", "decoder": "generative", "mode": "best"}, "unknown_decoder"),
    ],
)
def test_bad_transmit_requests_are_422(edge, fields, code):
    answer = post_form(edge.url + "/v1/transmit", fields)
    assert answer.status == 422, answer.body[:300]
    assert answer.json()["error"]["code"] == code

"""The edge refuses what it must (401, 413, 415, 422) with a JSON error, and keeps serving after it."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
import torch
from PIL import Image

from mllmsc.service import wire

from .conftest import TOKEN, post_form, request


def assert_json_error(answer, status: int, code: str | None = None) -> None:
    assert answer.status == status, answer.body[:300]
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert b"Traceback" not in answer.body and b'File "' not in answer.body
    if code is not None:
        assert body["error"]["code"] == code


def good_image() -> tuple[str, bytes, str]:
    return (
        "x.png",
        wire.image_png(torch.rand(3, 24, 32, generator=torch.Generator().manual_seed(0))),
        "image/png",
    )


def bomb_png(width: int = 30_000, height: int = 30_000) -> bytes:
    """A valid 1×1 PNG whose header claims ``width × height`` pixels (CRC fixed)."""
    buffer = io.BytesIO()
    Image.new("L", (1, 1)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    ihdr = 8  # after the signature: length (4), b"IHDR" (4), data (13), crc (4)
    data[ihdr + 8 : ihdr + 16] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr + 4 : ihdr + 21]))
    data[ihdr + 21 : ihdr + 25] = struct.pack(">I", crc)
    return bytes(data)


# ---------------------------------------------------------------------------------------- auth


@pytest.mark.parametrize(
    "authorization",
    [None, f"Bearer {TOKEN}x", "Bearer ", f"Basic {TOKEN}", TOKEN, f"Bearer {TOKEN[:-1]}"],
)
def test_api_refuses_a_missing_or_wrong_token_with_401(edge, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    for method, path in (("POST", "/v1/importance"), ("POST", "/v1/transmit"), ("GET", "/v1/scene"),
                         ("GET", "/metrics")):  # fmt: skip
        answer = request(
            edge.url + path, method, token=None, headers=headers, body=b"" if method == "POST" else None
        )
        assert_json_error(answer, 401, "unauthorized")
        assert answer.headers["www-authenticate"] == "Bearer"


def test_the_right_token_is_accepted_and_public_paths_need_none(edge):
    answer = post_form(edge.url + "/v1/importance", {"intent": "the face"}, {"image": good_image()})
    assert answer.status == 200, answer.body
    for path in (
        "/",
        "/healthz",
        "/v1/info",
        "/openapi.json",
        "/static/page.js",
        "/v1/samples/astronaut.png",
    ):
        assert request(edge.url + path, token=None).status == 200, path
    assert request(edge.url + "/v1/info", token=None).json()["auth"] is True


def test_unauthenticated_uploads_are_refused_before_the_body_is_used(edge):
    answer = post_form(edge.url + "/v1/importance", {"intent": "x"}, {"image": good_image()}, token=None)
    assert_json_error(answer, 401)


# -------------------------------------------------------------------------------------- limits


def test_413_on_an_oversize_body_by_content_length_and_by_chunks(edge):
    big = ("big.png", b"\x89PNG" + bytes(300 * 1024), "image/png")  # over the 256 kB of the fixture
    assert_json_error(post_form(edge.url + "/v1/importance", {}, {"image": big}), 413, "too_large")
    body, content_type = wire.multipart({}, {"image": big})
    answer = request(edge.url + "/v1/importance", "POST", body=body, headers={"Content-Type": content_type},
                     chunked=True)  # fmt: skip
    assert_json_error(answer, 413, "too_large")


def test_a_decompression_bomb_is_refused_from_its_header(edge):
    answer = post_form(edge.url + "/v1/importance", {}, {"image": ("bomb.png", bomb_png(), "image/png")})
    assert_json_error(answer, 413, "too_many_pixels")
    # over the edge's own limit (512×512 in the fixture) but far under Pillow's: still refused
    answer = post_form(
        edge.url + "/v1/importance", {}, {"image": ("big.png", bomb_png(600, 600), "image/png")}
    )
    assert_json_error(answer, 413, "too_many_pixels")


@pytest.mark.parametrize(
    ("fields", "files", "status", "code"),
    [
        (
            {"intent": "x"},
            {"image": ("notes.txt", b"just some text, not pixels", "text/plain")},
            415,
            "not_an_image",
        ),
        ({}, {"image": ("empty.png", b"", "image/png")}, 422, "empty_image"),
        ({"intent": "the face"}, {}, 422, "invalid_request"),  # the image is missing
        ({"intent": "w" * 100_000}, "good", 422, "intent_too_long"),
        ({"snr_db": "-400"}, "good", 422, "invalid_request"),
        ({"snr_db": "nan"}, "good", 422, "invalid_request"),
        ({"snr_db": "ten"}, "good", 422, "invalid_request"),
        ({"cbr": "2"}, "good", 422, "invalid_request"),
        ({"cbr": "1/0"}, "good", 422, "invalid_request"),
        ({"channel": "carrier-pigeon"}, "good", 422, "unknown_channel"),
        ({"guidance": "telepathy"}, "good", 422, "guidance_unavailable"),
        ({"guidance": "mask"}, "good", 422, "guidance_unavailable"),
    ],
)
def test_bad_fields_get_a_4xx_json_error(edge, fields, files, status, code):
    files = {"image": good_image()} if files == "good" else files
    assert_json_error(post_form(edge.url + "/v1/importance", fields, files), status, code)


def test_a_truncated_png_is_422(edge):
    data = wire.image_png(torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(1)))
    answer = post_form(
        edge.url + "/v1/importance", {}, {"image": ("cut.png", data[: len(data) // 2], "image/png")}
    )
    assert_json_error(answer, 422, "bad_image")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (
            b'--xyz\r\nContent-Disposition: form-data; name="image"\r\n\r\nno end',
            "multipart/form-data; boundary=xyz",
        ),
        (b"\x00\xff garbage", "multipart/form-data"),
        (b'{"image": "aGVsbG8=", "intent": "x"}', "application/json"),
        (b"image=abc&intent=x", "application/x-www-form-urlencoded"),
    ],
)
def test_malformed_bodies_get_a_4xx_json_error_and_the_server_keeps_serving(edge, body, content_type):
    answer = request(edge.url + "/v1/importance", "POST", body=body, headers={"Content-Type": content_type})
    assert 400 <= answer.status < 500, answer.body
    assert_json_error(answer, answer.status)
    assert request(edge.url + "/healthz").json() == {"status": "ok"}
    ok = post_form(edge.url + "/v1/importance", {}, {"image": good_image()})
    assert ok.status == 200


def test_unknown_paths_and_methods_are_json_errors(edge):
    assert_json_error(request(edge.url + "/v1/nothing-here"), 404, "not_found")
    assert_json_error(request(edge.url + "/v1/importance"), 405, "method_not_allowed")


# ------------------------------------------------------------------------------- observability


def test_metrics_count_requests_errors_and_stages_in_prometheus_text(edge):
    post_form(edge.url + "/v1/importance", {}, {"image": good_image()})
    request(edge.url + "/v1/importance", "POST", token=None, body=b"")
    answer = request(edge.url + "/metrics")
    assert answer.status == 200 and answer.headers["content-type"].startswith("text/plain")
    text = answer.body.decode()
    from prometheus_client.parser import text_string_to_metric_families

    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}  # fmt: skip
    key = ("mllmsc_requests_total", (("code", "401"), ("endpoint", "/v1/importance")))
    assert samples[key] >= 1
    assert samples[("mllmsc_errors_total", (("code", "401"), ("endpoint", "/v1/importance")))] >= 1
    assert samples[("mllmsc_requests_total", (("code", "200"), ("endpoint", "/v1/importance")))] >= 1
    counts = [dict(labels) for name, labels in samples if name == "mllmsc_stage_seconds_count"]
    stages = {labels["stage"] for labels in counts if labels["endpoint"] == "/v1/importance"}
    assert {"decode", "guidance", "encode"} <= stages
    for gauge in ("mllmsc_queue_depth", "mllmsc_in_flight", "process_resident_memory_bytes"):
        assert (gauge, ()) in samples


def test_openapi_schema_lists_the_api(edge):
    schema = request(edge.url + "/openapi.json", token=None).json()
    assert {"/v1/importance", "/v1/transmit", "/v1/scene", "/healthz", "/metrics"} <= set(schema["paths"])
    assert "401" in schema["paths"]["/v1/importance"]["post"]["responses"]

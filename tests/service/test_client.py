"""The device side: the edge's map equals the local backend's, and the device falls back when it must."""

from __future__ import annotations

import json
import threading

import pytest
import torch

from mllmsc.cli.main import main
from mllmsc.guidance import build_guidance
from mllmsc.service import wire
from mllmsc.service.client import EdgeClient, EdgeError, EdgeGuidance
from mllmsc.service.server import free_port
from mllmsc.types import ChannelState

from .conftest import TOKEN, post_form, wait_until

CSI = ChannelState(4.0, 1 / 32, "awgn")  # low SNR and budget: the channel rule tightens the map


def local_saliency():
    return build_guidance("saliency")


def test_round_trip_map_equals_the_local_backends_map(edge, photo_tensor):
    answer = EdgeClient(edge.url, TOKEN).importance(photo_tensor, "the face", CSI, guidance="saliency")
    local = local_saliency()(photo_tensor, "the face", CSI)
    assert answer.soft.shape == local.soft.shape == (1, 1, 96, 128)
    # the soft map travels as 8-bit PNG: equal to the local map rounded to 8 bits, pixel for pixel
    assert torch.equal(answer.soft, (local.soft * 255).round() / 255)
    assert torch.equal(answer.mask, local.mask) and 0 < local.mask.float().mean() < 1
    assert answer.backend == "saliency" and answer.used_query is False and answer.attempts == 1


def test_edge_guidance_names_the_edge_and_upsamples_a_shrunk_image(edge, photo_tensor):
    guide = EdgeGuidance(EdgeClient(edge.url, TOKEN, max_side=64), local=pytest.fail)
    imp = guide(photo_tensor, "the face", CSI)
    assert imp.backend == "edge:saliency"
    assert imp.soft.shape == imp.mask.shape == (1, 1, 96, 128) and imp.mask.dtype == torch.bool
    assert (
        guide.outcome["edge"] == edge.url and guide.outcome["attempts"] == 1 and "reason" not in guide.outcome
    )


def fallback_of(client: EdgeClient, x) -> tuple:
    guide = EdgeGuidance(client, local=local_saliency)
    imp = guide(x, "the face", CSI)
    return imp, guide.outcome


def test_falls_back_when_the_edge_is_down(photo_tensor):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    imp, outcome = fallback_of(EdgeClient(url, TOKEN, timeout_s=5, retries=1), photo_tensor)
    assert imp.backend == "fallback:saliency"
    assert "unreachable" in outcome["reason"] and "2 attempts" in outcome["reason"]
    assert torch.equal(imp.soft, local_saliency()(photo_tensor, "the face", CSI).soft)


def test_falls_back_when_the_edge_is_slow(blocked_edge, photo_tensor):
    edge = blocked_edge()
    imp, outcome = fallback_of(EdgeClient(edge.url, TOKEN, timeout_s=0.5), photo_tensor)
    assert imp.backend == "fallback:saliency"
    assert outcome["reason"] == "the edge did not answer within 0.5 s"


def test_falls_back_when_the_edge_refuses(edge, photo_tensor):
    imp, outcome = fallback_of(EdgeClient(edge.url, "not-the-token-0123456789"), photo_tensor)
    assert imp.backend == "fallback:saliency"
    assert outcome["reason"].startswith("the edge refused the request: 401")


def test_a_busy_edge_is_retried_once_then_the_device_falls_back(blocked_edge, photo_tensor):
    edge = blocked_edge(workers=1, queue=0)
    part = {"image": ("x.png", wire.image_png(torch.rand(3, 8, 8)), "image/png")}
    hold = threading.Thread(target=lambda: post_form(edge.url + "/v1/importance", {}, part))
    hold.start()
    wait_until(lambda: edge.gate.running == 1, "the only worker to be busy")
    imp, outcome = fallback_of(EdgeClient(edge.url, TOKEN, retries=1, max_pause_s=0.05), photo_tensor)
    assert imp.backend == "fallback:saliency"
    assert outcome["reason"].startswith("the edge answered 503 busy") and "(2 attempts)" in outcome["reason"]
    edge.backend.release.set()
    hold.join(timeout=60)


def test_a_malformed_answer_is_an_edge_error(edge, photo_tensor, monkeypatch):
    client = EdgeClient(edge.url, TOKEN)
    monkeypatch.setattr(client, "post", lambda *a: ({"height": 1, "width": 1, "map": {}}, 1))
    with pytest.raises(EdgeError, match="malformed"):
        client.importance(photo_tensor, "x", None)


# ------------------------------------------------------------------------- mllmsc transmit --edge


def transmit(tmp_path, photo_path, tiny_codec_dir, *extra):
    out = tmp_path / "out"
    code = main(["transmit", str(photo_path), "--out", str(out), "--weights", str(tiny_codec_dir),
                 "--query", "the face", "--snr", "4", "--cbr", "1/32", *extra])  # fmt: skip
    return code, (json.loads((out / "report.json").read_text()) if code == 0 else None)


@pytest.fixture
def token_file(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return path


def test_transmit_asks_the_edge_and_reports_it(edge, tmp_path, photo_path, tiny_codec_dir, token_file):
    code, report = transmit(tmp_path, photo_path, tiny_codec_dir, "--edge", edge.url + "/",
                            "--token-file", str(token_file), "--guidance", "saliency")  # fmt: skip
    assert code == 0
    g = report["guidance"]
    assert g["backend"] == "edge:saliency" and g["edge"] == edge.url and "reason" not in g
    assert report["latency_ms"]["guidance"] >= g["server_ms"] > 0  # the hop is inside the guidance stage
    s = report["symbols"]
    assert s["side_info"] > 0 and s["payload"] + s["side_info"] == s["total"] <= s["budget"]


def test_transmit_completes_with_the_fallback_when_the_edge_is_down(tmp_path, photo_path, tiny_codec_dir,
                                                                   token_file, capsys):  # fmt: skip
    url = f"http://127.0.0.1:{free_port()}"
    edge_args = ("--edge", url, "--token-file", str(token_file), "--guidance", "saliency")
    code, report = transmit(tmp_path, photo_path, tiny_codec_dir, *edge_args)
    assert code == 0
    assert report["guidance"]["backend"] == "fallback:saliency"
    assert "unreachable" in report["guidance"]["reason"] and report["guidance"]["edge"] == url
    assert "was not used" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--edge", "http://127.0.0.1:1", "--token-file", "{tmp}/missing"], "no such file"),
        (["--edge", "http://127.0.0.1:1", "--token-file", "{tmp}/empty"], "empty"),
        (["--edge", "ftp://127.0.0.1:1"], "http://"),
        (["--token-file", "{tmp}/empty"], "--edge"),
        (["--edge", "http://127.0.0.1:1", "--guidance", "uniform"], "--edge"),
        (["--edge", "http://127.0.0.1:1", "--edge-timeout", "0"], "--edge-timeout"),
    ],
)
def test_transmit_edge_option_errors_are_one_line_and_exit_2(tmp_path, photo_path, tiny_codec_dir, capsys,
                                                              extra, fragment):  # fmt: skip
    (tmp_path / "empty").write_text("\n")
    extra = [a.format(tmp=tmp_path) for a in extra]
    code, _ = transmit(tmp_path, photo_path, tiny_codec_dir, *extra)
    err = capsys.readouterr().err
    assert code == 2 and fragment in err and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()

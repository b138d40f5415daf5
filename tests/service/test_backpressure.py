"""Bounded concurrency: past workers + queue the edge answers 503 with Retry-After, and recovers."""

from __future__ import annotations

import threading

import torch

from mllmsc.service import wire

from .conftest import post_form, request, wait_until


def image_part():
    x = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))
    return {"image": ("x.png", wire.image_png(x), "image/png")}


def test_503_with_retry_after_when_the_queue_is_full_then_both_admitted_requests_finish(blocked_edge):
    edge = blocked_edge(workers=1, queue=1)
    url = edge.url + "/v1/importance"
    answers = []
    threads = [
        threading.Thread(target=lambda: answers.append(post_form(url, {}, image_part()))) for _ in range(2)
    ]
    for t in threads:
        t.start()
    # one runs (blocked in guidance), one waits in the queue: the edge is at capacity
    wait_until(lambda: edge.gate.running == 1 and edge.gate.waiting == 1, "a full queue")
    refused = post_form(url, {}, image_part())
    assert refused.status == 503
    assert refused.json()["error"]["code"] == "busy"
    assert int(refused.headers["retry-after"]) >= 1
    metrics = request(edge.url + "/metrics").body.decode()
    assert "mllmsc_queue_depth 1.0" in metrics and "mllmsc_in_flight 1.0" in metrics
    assert request(edge.url + "/healthz").status == 200  # the loop answers while the worker is busy
    edge.backend.release.set()
    for t in threads:
        t.join(timeout=60)
    assert sorted(a.status for a in answers) == [200, 200]
    assert post_form(url, {}, image_part()).status == 200  # and it takes work again


def test_a_request_past_its_timeout_gets_503_and_its_worker_is_not_double_booked(blocked_edge):
    edge = blocked_edge(workers=1, queue=4, timeout_s=0.3)
    url = edge.url + "/v1/importance"
    answer = post_form(url, {}, image_part())
    assert answer.status == 503 and answer.json()["error"]["code"] == "timeout"
    assert "retry-after" in answer.headers
    # the abandoned job still holds the only worker, so the next request times out waiting for it
    assert edge.gate.running == 1
    assert post_form(url, {}, image_part()).status == 503
    edge.backend.release.set()
    wait_until(lambda: edge.gate.running == 0, "the abandoned jobs to end")
    assert post_form(url, {}, image_part()).status == 200

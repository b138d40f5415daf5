"""A real edge on a loopback port per test module, and a small HTTP helper that never raises on 4xx/5xx."""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
import torch

from mllmsc.guidance.base import Guidance
from mllmsc.service import wire

TOKEN = "test-token-0123456789abcdef"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


def request(
    url: str,
    method: str = "GET",
    *,
    token: str | None = TOKEN,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    chunked: bool = False,
    timeout: float = 60,
) -> Answer:
    """One HTTP request on a fresh connection; any status comes back as an :class:`Answer`."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    all_headers = dict(headers or {})
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        if chunked:
            conn.request(method, path, body=iter([body[i : i + 8192] for i in range(0, len(body), 8192)]),
                         headers=all_headers, encode_chunked=True)  # fmt: skip
        else:
            conn.request(method, path, body=body, headers=all_headers)
        response = conn.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        conn.close()


def post_form(url: str, fields: dict[str, str], files: dict | None = None, **kw) -> Answer:
    body, content_type = wire.multipart(fields, files or {})
    return request(url, "POST", body=body, headers={"Content-Type": content_type}, **kw)


def png_of(x: torch.Tensor) -> tuple[str, bytes, str]:
    """A file part for :func:`post_form`. Shapes: x ``[3, H, W]``."""
    return ("image.png", wire.image_png(x), wire.PNG)


class Blocking(Guidance):
    """A guidance backend that holds its worker until :attr:`release` is set (to fill the queue)."""

    name = "blocking"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Semaphore(0)

    def predict(self, x, intent, csi):
        self.entered.release()
        self.release.wait(timeout=120)
        b, _, h, w = x.shape
        return x.new_full((b, 1, h, w), 0.5), [], False


def wait_until(condition, what: str, timeout_s: float = 30.0) -> None:
    """Poll ``condition()`` until true; fail the test (not hang) after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def photo_tensor(photo_path):
    from mllmsc.data.io import read_image

    return read_image(photo_path)[None]


@pytest.fixture(scope="module")
def edge(tiny_codec_dir, tiny_vqa_dir, tiny_refiner_dir):
    """The edge with the cheap ``saliency`` default, tiny codec and refiner, small limits; started here."""
    from mllmsc.service.app import create_app
    from mllmsc.service.limits import Limits
    from mllmsc.service.models import Models
    from mllmsc.service.server import BackgroundServer

    limits = Limits(max_request_bytes=256 * 1024, max_pixels=512 * 512, transmit_max_side=96, timeout_s=60)
    models = Models(weights=tiny_codec_dir, answerer_weights=tiny_vqa_dir, refiner_weights=tiny_refiner_dir)
    app = create_app(token=TOKEN, guidance="saliency", limits=limits, models=models)
    with BackgroundServer(app) as server:
        server.app = app
        yield server


class BlockingModels:
    """Stands in for :class:`mllmsc.service.models.Models`: every backend name gets ``backend``."""

    def __init__(self, backend) -> None:
        self.backend = backend

    def guidance(self, name):
        return self.backend


@pytest.fixture
def blocked_edge():
    """``blocked_edge(workers=1, queue=1, timeout_s=60)``: an edge whose guidance waits for
    ``server.backend.release`` (set at teardown); ``server.gate`` is its admission gate."""
    from mllmsc.service.app import create_app
    from mllmsc.service.limits import Limits
    from mllmsc.service.server import BackgroundServer

    started = []

    def start(workers: int = 1, queue: int = 1, timeout_s: float = 60) -> BackgroundServer:
        backend = Blocking()
        limits = Limits(workers=workers, queue=queue, timeout_s=timeout_s)
        app = create_app(token=TOKEN, guidance="saliency", limits=limits, models=BlockingModels(backend))
        server = BackgroundServer(app).start()
        server.app, server.gate, server.backend = app, app.state.gate, backend
        started.append(server)
        return server

    yield start
    for server in started:
        server.backend.release.set()
        server.stop()

"""What one request may ask of the edge, and the middleware that enforces the size of its body.

Every limit is refused with a 4xx and a JSON error (see :mod:`mllmsc.service.errors`) before the
costly part starts: the body size from ``Content-Length`` (or while it streams in), the pixel
count from the image header (a decompression bomb is never decoded), the intent length before
any model reads it. Defaults and why:

* ``max_request_bytes`` 10 MiB: a phone photo as JPEG is 2–8 MB; the device client sends a PNG of
  at most 512 px a side (≈ 0.5 MB). Bodies are held in memory, at most ``workers + queue`` at once.
* ``max_pixels`` 16 Mpx (4096²): a phone photo fits; the CLI's 40 Mpx
  (:data:`mllmsc.limits.MAX_PIXELS`) is for one user on their own machine, a server decodes
  ``workers`` images at once.
* ``max_intent_chars``: :data:`mllmsc.limits.MAX_QUERY_CHARS` (500), as on the command line.
* ``timeout_s`` 60 s: from admission to answer; a 512 px link takes about a second here.
* ``workers`` 2 (the cores of this machine) and ``queue`` 16: past ``workers + queue`` requests
  in the house the edge answers 503 with ``Retry-After`` at once instead of letting latency grow
  without bound.
* ``transmit_max_side`` 512: ``/v1/transmit`` (the page) shrinks larger images to this side first,
  so the interactive link stays about a second.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from mllmsc.limits import MAX_QUERY_CHARS, SNR_MAX_DB, SNR_MIN_DB
from mllmsc.service.errors import ASGIApp, Receive, Scope, Send, send_error

__all__ = ["SNR_MAX_DB", "SNR_MIN_DB", "BodyLimit", "Limits"]


@dataclass(frozen=True)
class Limits:
    """The edge's limits (see the module docstring for the defaults)."""

    max_request_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 4096 * 4096
    max_intent_chars: int = MAX_QUERY_CHARS
    timeout_s: float = 60.0
    workers: int = 2
    queue: int = 16
    transmit_max_side: int = 512
    retry_after_s: int = 1

    def __post_init__(self) -> None:
        for name in ("max_request_bytes", "max_pixels", "max_intent_chars", "workers", "transmit_max_side"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.queue < 0 or self.timeout_s <= 0 or self.retry_after_s < 1:
            raise ValueError("queue must be >= 0, timeout_s > 0 and retry_after_s >= 1")


class BodyLimit:
    """ASGI middleware: 413 for a body over ``max_bytes``, 408 for one that does not arrive in time.

    A ``Content-Length`` over the limit is refused before a byte is read. Otherwise (a chunked
    body, or an honest length) the body is read here, counted, and replayed to the application:
    the application never sees more than ``max_bytes``, whatever the client declared.

    Args:
        app: the application.
        max_bytes: the largest body accepted.
        timeout_s: the longest wait for the next chunk (a client that stalls mid-body).
    """

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await send_error(send, 400, "bad_request", "Content-Length is not a number")
                return
            if length > self.max_bytes:
                await send_error(send, 413, "too_large", self._too_large(length))
                return
        chunks, total = [], 0
        while True:
            try:
                message = await asyncio.wait_for(receive(), self.timeout_s)
            except TimeoutError:
                await send_error(send, 408, "timeout", f"the body did not arrive within {self.timeout_s:g} s")
                return
            if message["type"] == "http.disconnect":
                return  # the client left; nobody to answer
            body = message.get("body", b"")
            total += len(body)
            if total > self.max_bytes:
                await send_error(send, 413, "too_large", self._too_large(total, more=True))
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        whole = b"".join(chunks)
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": whole, "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as a server would

        await self.app(scope, replay, send)

    def _too_large(self, size: int, more: bool = False) -> str:
        return (
            f"the request body is {'over ' if more else ''}{size} bytes; the limit is {self.max_bytes} "
            "(send a smaller image: the device client shrinks it to 512 px a side)"
        )

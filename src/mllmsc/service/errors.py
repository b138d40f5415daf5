"""One error shape for every refusal of the edge service, and the way to send it from raw ASGI.

Every 4xx and 5xx body is ``{"error": {"code": "<word>", "message": "<one line>"}}`` with
``Content-Type: application/json``; never a traceback (a bug is logged on the server and answered
``500 internal``). Middlewares that refuse before the application runs (401, 413, 503) use
:func:`send_error`; route code raises :class:`ServiceError`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ServiceError(Exception):
    """A request the service refuses: HTTP ``status``, a short ``code`` word, a one-line message.

    Attributes:
        status: HTTP status (4xx for the client's fault, 503 for back-pressure).
        code: machine-readable word (``unauthorized``, ``too_large``, ``not_an_image``, ...).
        message: one line for a person.
        headers: extra response headers (``Retry-After``, ``WWW-Authenticate``).
    """

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = " ".join(str(message).split())
        self.headers = dict(headers or {})


def error_body(code: str, message: str) -> bytes:
    """The JSON body of an error response."""
    return json.dumps({"error": {"code": code, "message": " ".join(str(message).split())}}).encode()


async def send_error(
    send: Send, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> None:
    """Answer a request with the JSON error from raw ASGI (before the application has run)."""
    body = error_body(code, message)
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})

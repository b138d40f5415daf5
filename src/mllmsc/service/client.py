"""The device side of the split: ask the edge for the importance map, or do without it.

::

    x [1,3,H,W] ─► downscale (≤ max_side) ─► PNG ─► POST /v1/importance ─► soft / mask PNGs
        ─► upsample to H×W (soft bilinear, mask nearest) ─► ImportanceMap(backend="edge:<name>")
    on any failure ─► the local backend ─► ImportanceMap(backend="fallback:<name>") + reason

:class:`EdgeClient` speaks HTTP with the standard library (``urllib``): the device needs none of
the server's packages. Each attempt has a timeout; failures that say the edge is briefly unable
(connection refused or reset, 502/503/504, 500) are retried ``retries`` times after a short pause
(a 503's ``Retry-After``, capped); a timeout is not retried (a slow edge would only make the
device wait twice), nor is a refusal (401, 413, 422: asking again gets the same answer).

:class:`EdgeGuidance` is a :class:`~mllmsc.guidance.base.Guidance` like any other, so the pipeline
times it as the ``guidance`` stage: ``latency_ms.guidance`` includes the network hop. It never
raises because of the edge: the transmission goes on with local guidance and says why in
:attr:`EdgeGuidance.outcome`, which ``mllmsc transmit`` puts in ``report.json``'s guidance block.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from mllmsc.guidance.base import Guidance, check_images
from mllmsc.service import wire
from mllmsc.types import ChannelState, ImportanceMap

#: The most the device reads of an answer (a 512 px map is a few kB; a bad edge may send anything).
MAX_ANSWER_BYTES = 16 * 1024 * 1024
RETRYABLE = (500, 502, 503, 504)


class EdgeError(Exception):
    """The edge did not give a usable map; ``reason`` says why, in one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = " ".join(reason.split())


@dataclass(frozen=True)
class EdgeMap:
    """The edge's answer for one image, at the resolution that was sent.

    Shapes:
        soft: ``[1, 1, h, w]`` float32 in [0, 1]; mask: ``[1, 1, h, w]`` bool.
    """

    soft: torch.Tensor
    mask: torch.Tensor
    phrases: list[str]
    used_query: bool
    backend: str
    server_ms: float
    attempts: int


class EdgeClient:
    """HTTP client of ``POST /v1/importance``.

    Args:
        url: the edge's base URL (``http://host:port``).
        token: bearer token, or ``None`` for an edge served with ``--insecure``.
        timeout_s: the longest wait of one attempt (connect, send, answer).
        retries: further attempts after a failure that may pass (see the module docstring).
        max_side: the image is shrunk to this longer side before it is sent.
        max_pause_s: the longest pause before a retry, whatever ``Retry-After`` asks.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout_s: float = 10.0,
        retries: int = 1,
        max_side: int = 512,
        max_pause_s: float = 1.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s
        self.retries = retries
        self.max_side = max_side
        self.max_pause_s = max_pause_s
        # The device talks to its edge directly: a proxy from the environment would send a
        # loopback or lab address somewhere else.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def importance(
        self, x: torch.Tensor, intent: str | None, csi: ChannelState | None, guidance: str | None = None
    ) -> EdgeMap:
        """The edge's map of one image.

        Shapes:
            x: ``[1, 3, H, W]`` in [0, 1] → maps at the sent resolution (``H × W`` shrunk to
            ``max_side``).

        Raises:
            EdgeError: unreachable, too slow, refused, or an answer that is not a valid map.
        """
        sent = wire.downscale(x, self.max_side)
        fields = {"intent": intent or ""}
        if csi is not None:
            state = {"snr_db": csi.snr_db, "cbr": csi.cbr, "channel": csi.channel}
            fields |= {k: str(v) for k, v in state.items() if v is not None}
        if guidance is not None:
            fields["guidance"] = guidance
        body, content_type = wire.multipart(
            fields, {"image": ("image.png", wire.image_png(sent[0]), wire.PNG)}
        )
        answer, attempts = self.post("/v1/importance", body, content_type)
        size = tuple(sent.shape[-2:])
        try:
            if (answer["height"], answer["width"]) != size or answer["map"]["encoding"] != "png":
                raise ValueError(f"map of {answer['height']}x{answer['width']}, sent {size[0]}x{size[1]}")
            soft = wire.read_map_png(wire.unb64(answer["map"]["soft"]), size)
            mask = wire.read_map_png(wire.unb64(answer["map"]["mask"]), size) > 0.5
            phrases = [str(p) for p in answer["phrases"]]
            return EdgeMap(
                soft=soft[None, None], mask=mask[None, None], phrases=phrases,
                used_query=bool(answer["used_query"]), backend=str(answer["backend"]),
                server_ms=float(answer["latency_ms"].get("total", 0.0)), attempts=attempts,
            )  # fmt: skip
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise EdgeError(f"the edge sent a malformed map ({exc.__class__.__name__}: {exc})") from None

    def post(self, path: str, body: bytes, content_type: str) -> tuple[dict, int]:
        """POST ``body``; the decoded JSON answer and the number of attempts it took.

        Raises:
            EdgeError: see :meth:`importance`.
        """
        headers = {"Content-Type": content_type, "Accept": "application/json"}
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        attempts = 0
        while True:
            attempts += 1
            last = attempts > self.retries
            request = urllib.request.Request(self.url + path, data=body, headers=headers, method="POST")
            try:
                with self._opener.open(request, timeout=self.timeout_s) as response:
                    raw = response.read(MAX_ANSWER_BYTES + 1)
            except urllib.error.HTTPError as err:
                message = _error_message(err)
                if err.code not in RETRYABLE:
                    raise EdgeError(f"the edge refused the request: {err.code} {message}") from None
                if last:
                    raise EdgeError(f"the edge answered {err.code} {message} ({attempts} attempts)") from None
                self._pause(err.headers.get("Retry-After"))
                continue
            except TimeoutError:
                raise EdgeError(f"the edge did not answer within {self.timeout_s:g} s") from None
            except urllib.error.URLError as err:
                if isinstance(err.reason, TimeoutError | socket.timeout):
                    raise EdgeError(f"the edge did not answer within {self.timeout_s:g} s") from None
                if last:
                    raise EdgeError(
                        f"the edge at {self.url} is unreachable ({err.reason}; {attempts} attempts)"
                    ) from None
                self._pause(None)
                continue
            except (OSError, http.client.HTTPException) as err:  # reset mid-answer, bad status line, ...
                if last:
                    raise EdgeError(
                        f"the connection to the edge failed ({err}; {attempts} attempts)"
                    ) from None
                self._pause(None)
                continue
            if len(raw) > MAX_ANSWER_BYTES:
                raise EdgeError(f"the edge's answer is over {MAX_ANSWER_BYTES} bytes")
            try:
                return json.loads(raw), attempts
            except ValueError:
                raise EdgeError("the edge's answer is not JSON") from None

    def _pause(self, retry_after: str | None) -> None:
        seconds = 0.2
        if retry_after:
            try:
                seconds = float(retry_after)
            except ValueError:  # an HTTP date
                when = email.utils.parsedate_to_datetime(retry_after)
                seconds = when.timestamp() - time.time() if when is not None else seconds
        time.sleep(min(max(seconds, 0.0), self.max_pause_s))


def _error_message(err: urllib.error.HTTPError) -> str:
    """``reason: message`` from the edge's JSON error body, or the HTTP reason phrase."""
    try:
        error = json.loads(err.read(64 * 1024))["error"]
        return f"{error['code']}: {error['message']}"
    except Exception:
        return str(err.reason)


class EdgeGuidance(Guidance):
    """Importance from the edge; local guidance when the edge cannot give it.

    Args:
        client: the edge's client.
        local: builds the local backend, called once, on the first failure (so a working edge
            never pays for loading local weights).
        remote: the backend to ask the edge for (``None``: the edge's default).

    Attributes:
        outcome: after a call, what ``report.json``'s guidance block gains: ``{"edge": url,
            "server_ms", "attempts"}`` when the edge answered, ``{"edge": url, "reason"}`` when
            the map is local.
    """

    name = "edge"

    def __init__(self, client: EdgeClient, local: Callable[[], Guidance], remote: str | None = None) -> None:
        self.client = client
        self.remote = remote
        self._build_local = local
        self._local: Guidance | None = None
        self.outcome: dict = {}

    def __call__(
        self, x: torch.Tensor, intent: str | None = None, csi: ChannelState | None = None
    ) -> ImportanceMap:
        """The edge's map upsampled to ``x``, or the local backend's.

        Shapes:
            x: ``[B, 3, H, W]`` → soft ``[B, 1, H, W]`` float32, mask ``[B, 1, H, W]`` bool.
        """
        check_images(x)
        start = time.perf_counter()
        try:
            maps = [self.client.importance(x[i : i + 1], intent, csi, self.remote) for i in range(x.shape[0])]
        except EdgeError as exc:
            if self._local is None:
                self._local = self._build_local()
            imp = self._local(x, intent, csi)
            self.outcome = {"edge": self.client.url, "reason": exc.reason}
            return replace(
                imp, backend=f"fallback:{imp.backend}", latency_ms=1000 * (time.perf_counter() - start)
            )
        size = tuple(x.shape[-2:])
        soft = torch.cat([_resize(m.soft, size, "bilinear") for m in maps]).clamp(0, 1)
        mask = torch.cat([_resize(m.mask.float(), size, "nearest-exact") > 0.5 for m in maps])
        phrases = list(dict.fromkeys(p for m in maps for p in m.phrases))
        self.outcome = {
            "edge": self.client.url,
            "server_ms": round(sum(m.server_ms for m in maps), 3),
            "attempts": max(m.attempts for m in maps),
        }
        return ImportanceMap(
            soft=soft.to(x.device), mask=mask.to(x.device), phrases=phrases,
            used_query=all(m.used_query for m in maps), backend=f"edge:{maps[0].backend}",
            latency_ms=1000 * (time.perf_counter() - start),
        )  # fmt: skip


def _resize(m: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    if tuple(m.shape[-2:]) == size:
        return m
    options = {"align_corners": False} if mode == "bilinear" else {}
    return torch.nn.functional.interpolate(m, size=size, mode=mode, **options)

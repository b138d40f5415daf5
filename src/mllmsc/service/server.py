"""Running the edge: in the foreground (``mllmsc serve``) or in a background thread (tests, benchmarks).

:class:`BackgroundServer` starts a real uvicorn on a loopback port in a daemon thread and stops it
on exit, so a test talks to the service over TCP exactly as a device would.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn

# uvicorn's defaults, written out: keep-alive connections close after 5 s idle; the server stops
# reading a request's headers after h11's own limit. Its access log is off: /metrics counts
# requests, and a line per request would cost more than a map at the load of the benchmark.
UVICORN_OPTIONS: dict[str, Any] = {
    "timeout_keep_alive": 5,
    "access_log": False,
    "server_header": False,
    "date_header": True,
}


def serve(app: Any, host: str, port: int, *, log_level: str = "info") -> None:
    """Serve ``app`` until interrupted (Ctrl-C or SIGTERM: uvicorn finishes what is in flight)."""
    uvicorn.run(app, host=host, port=port, log_level=log_level, **UVICORN_OPTIONS)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class BackgroundServer:
    """uvicorn serving ``app`` on ``host:port`` in a daemon thread; a context manager.

    >>> with BackgroundServer(create_app(token=None)) as server:
    ...     urllib.request.urlopen(server.url + "/healthz")

    Args:
        app: the ASGI application.
        host: a loopback address.
        port: ``0`` picks a free one.
        startup_timeout_s: how long to wait for the socket to listen.
    """

    def __init__(
        self, app: Any, host: str = "127.0.0.1", port: int = 0, startup_timeout_s: float = 30.0
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        config = uvicorn.Config(app, host=host, port=self.port, log_level="warning", **UVICORN_OPTIONS)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"uvicorn-{self.port}", daemon=True)
        self.startup_timeout_s = startup_timeout_s

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + self.startup_timeout_s
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError(f"the server on {self.url} did not start")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server on {self.url} did not start in {self.startup_timeout_s:g} s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

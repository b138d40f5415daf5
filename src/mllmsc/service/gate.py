"""Bounded concurrency with a queue: at most ``workers`` jobs run, ``queue`` more wait, the rest get 503.

::

    request ─► Admission: admitted < workers + queue ? ──no──► 503 + Retry-After (at once)
                              │ yes
                              ▼
               Gate.run(job): wait for a worker slot ─► thread pool (workers threads) ─► answer
                              (both waits bounded by the request's timeout: 503 "timeout")

The jobs are CPU-bound torch code, so they run in a pool of ``workers`` threads, off the event
loop (which keeps answering /healthz, /metrics and refusals while every worker is busy). A job
that outlives its request's timeout cannot be killed (Python has no safe way to stop a thread),
so its worker slot stays taken until it ends: the pool never runs more than ``workers`` jobs,
even when clients give up.

All counters are changed on the event loop thread only (admission in the middleware, release in
the future's done-callback, which asyncio runs on the loop), so they need no lock.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from mllmsc.service.errors import ASGIApp, Receive, Scope, Send, ServiceError, send_error

T = TypeVar("T")


class Gate:
    """Admission counter and worker pool.

    Args:
        workers: jobs that run at once (threads).
        queue: admitted requests that may wait for a worker.
        retry_after_s: what a 503 tells the client to wait.

    Attributes:
        admitted: requests inside (waiting or running).
        waiting: admitted requests waiting for a worker (the queue depth).
        running: jobs running in the pool (may include jobs whose request timed out).
    """

    def __init__(self, workers: int, queue: int, retry_after_s: int = 1) -> None:
        self.workers = workers
        self.capacity = workers + queue
        self.retry_after_s = retry_after_s
        self.admitted = self.waiting = self.running = 0
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="mllmsc-edge")
        self._slots: asyncio.Semaphore | None = None  # made on the loop that serves

    def busy(self) -> ServiceError:
        return ServiceError(
            503, "busy", f"the edge is at capacity ({self.capacity} requests); retry later",
            {"Retry-After": str(self.retry_after_s)},
        )  # fmt: skip

    def try_admit(self) -> bool:
        """Take a place if one is free (never waits)."""
        if self.admitted >= self.capacity:
            return False
        self.admitted += 1
        return True

    def leave(self) -> None:
        self.admitted -= 1

    async def run(self, job: Callable[..., T], *args: Any, timeout_s: float) -> T:
        """Run ``job(*args)`` in a worker thread once one is free; its result, or its exception.

        Raises:
            ServiceError: 503 ``timeout`` when waiting plus running take over ``timeout_s``.
        """
        loop = asyncio.get_running_loop()
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.workers)
        deadline = loop.time() + timeout_s
        self.waiting += 1
        try:
            await asyncio.wait_for(self._slots.acquire(), timeout_s)
        except TimeoutError:
            raise self._timed_out(timeout_s) from None
        finally:
            self.waiting -= 1
        self.running += 1
        call = functools.partial(contextvars.copy_context().run, job, *args)
        future = loop.run_in_executor(self._pool, call)

        def release(_: asyncio.Future) -> None:
            self.running -= 1
            self._slots.release()

        future.add_done_callback(release)
        try:
            # shield: a timeout abandons the wait, not the future (whose callback frees the slot)
            return await asyncio.wait_for(asyncio.shield(future), max(deadline - loop.time(), 0.001))
        except TimeoutError:
            raise self._timed_out(timeout_s) from None

    def _timed_out(self, timeout_s: float) -> ServiceError:
        return ServiceError(
            503, "timeout", f"the request took longer than {timeout_s:g} s; retry later",
            {"Retry-After": str(self.retry_after_s)},
        )  # fmt: skip

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class Admission:
    """ASGI middleware: a request to one of ``paths`` is admitted by the :class:`Gate` or gets 503.

    It runs before the body is read, so a refused upload costs the edge nothing.
    """

    def __init__(self, app: ASGIApp, gate: Gate, paths: tuple[str, ...]) -> None:
        self.app = app
        self.gate = gate
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        if not self.gate.try_admit():
            busy = self.gate.busy()
            await send_error(send, busy.status, busy.code, busy.message, busy.headers)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.gate.leave()

"""Each HTTP request's thread for sync code, which a long-lived response may let go of early.

Under ASGI, Django runs a request's sync code (sync middleware, signal receivers, ``sync_to_async``
calls) on one thread kept for the whole request. For a server-sent event stream that lasts hours
that is one idle thread per open browser. ``with_request_thread`` gives each request that thread
through asgiref's public ``ThreadSensitiveContext(executor=…)``, with an executor of ours;
``release()`` lets the current thread end once its work is done, and a fresh one starts only if
the request needs one again (at its end, for ``request_finished``).
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextvars import ContextVar

from asgiref.sync import ThreadSensitiveContext

ASGIApp = Callable[[dict, Callable, Callable], Awaitable[None]]


class RequestThread(Executor):
    """One thread at a time, started when work comes; ``release`` lets the current one go."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool = self._new_pool()

    @staticmethod
    def _new_pool() -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="request")

    def submit(self, fn, /, *args, **kwargs) -> Future:
        with self._lock:
            return self._pool.submit(fn, *args, **kwargs)

    def release(self) -> None:
        """The thread finishes what it was given, then ends; later work gets a new thread."""
        with self._lock:
            old, self._pool = self._pool, self._new_pool()
        old.shutdown(wait=False)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)


_current: ContextVar[RequestThread | None] = ContextVar("request_thread", default=None)


def with_request_thread(app: ASGIApp) -> ASGIApp:
    """Wrap the ASGI application: each HTTP request's sync code runs on its own ``RequestThread``."""

    async def application(scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        executor = RequestThread()
        token = _current.set(executor)
        try:
            async with ThreadSensitiveContext(executor=executor):
                await app(scope, receive, send)
        finally:
            _current.reset(token)
            executor.shutdown(wait=False)

    return application


def release() -> None:
    """Let this request's thread end once it is idle (a no-op outside ``with_request_thread``)."""
    executor = _current.get()
    if executor is not None:
        executor.release()

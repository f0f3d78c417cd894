"""A cap on live-stream set-ups, in front of Django: a reconnect storm queues, it never floods the database.

Setting up ``/events/stream/`` loads the session, the user and their role: a few queries on one
database connection, given back before the stream's body starts (``stream.event_stream``). Five
hundred dashboards reconnecting at once would still ask for five hundred connections in the same
instant. ``with_stream_gate`` lets ``STREAM_SETUP_MAX`` set-ups run at once per web process (fewer
than the pool's connections, so the pool never runs dry for other pages); the next
``STREAM_SETUP_QUEUE`` wait up to ``STREAM_SETUP_WAIT_S`` for a turn, and any more, or one that
waited too long, get ``503`` with ``Retry-After``. A set-up's turn ends when its response starts:
an open stream holds no slot. A set-up that fails for any reason (the database refusing
connections, the pool timing out) is answered ``503`` with ``Retry-After`` too, never ``500``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from django.conf import settings

log = logging.getLogger(__name__)

ASGIApp = Callable[[dict, Callable, Callable], Awaitable[None]]
PATH = "/events/stream/"


@dataclass(frozen=True)
class Limits:
    concurrent: int  # set-ups running at once
    queue: int  # set-ups allowed to wait for a turn
    wait_s: float  # how long one waits before it is told to come back
    retry_after_s: int  # what the 503 tells it


def limits_from_settings() -> Limits:
    return Limits(
        concurrent=settings.STREAM_SETUP_MAX,
        queue=settings.STREAM_SETUP_QUEUE,
        wait_s=settings.STREAM_SETUP_WAIT_S,
        retry_after_s=settings.STREAM_RETRY_AFTER_S,
    )


class Gate:
    """The slots of one event loop (one per web process); the counts are read by tests and metrics."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.slots = asyncio.Semaphore(limits.concurrent)
        self.waiting = 0
        self.refused = 0

    async def enter(self) -> bool:
        """Take a slot, waiting in line if there is room in it; False when the caller must come back."""
        if self.slots.locked() and self.waiting >= self.limits.queue:
            return False
        self.waiting += 1
        try:
            await asyncio.wait_for(self.slots.acquire(), self.limits.wait_s)
            return True
        except TimeoutError:
            return False
        finally:
            self.waiting -= 1


async def busy(send: Callable, retry_after_s: int, why: str) -> None:
    """``503 Service Unavailable`` with ``Retry-After``: the one answer to a set-up that cannot run now."""
    body = f"{why}; retry in {retry_after_s} s\n".encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"retry-after", str(retry_after_s).encode()),
        (b"cache-control", b"no-store"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _SetUp:
    """One set-up's ``send``: frees the slot as the response starts, and turns a 5xx into a 503."""

    def __init__(self, send: Callable, gate: Gate) -> None:
        self.send, self.gate = send, gate
        self.started = self.replaced = self.released = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.gate.slots.release()

    async def __call__(self, message: dict) -> None:
        if message["type"] == "http.response.start":
            self.release()
            if message["status"] >= 500:
                self.replaced = True
                await busy(self.send, self.gate.limits.retry_after_s, "the live stream could not be set up")
                return
            self.started = True
        elif self.replaced:
            return  # the failed set-up's own body is dropped: the 503 has been sent
        await self.send(message)


def with_stream_gate(app: ASGIApp, limits: Callable[[], Limits]) -> ASGIApp:
    """Wrap the ASGI application: requests for the live stream go through a ``Gate``."""
    gates: dict[asyncio.AbstractEventLoop, Gate] = {}

    def gate() -> Gate:
        loop = asyncio.get_running_loop()
        if loop not in gates:
            for old in [lp for lp in gates if lp.is_closed()]:
                del gates[old]
            gates[loop] = Gate(limits())
        return gates[loop]

    async def application(scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope.get("path") != PATH:
            await app(scope, receive, send)
            return
        await _gated(gate(), app, scope, receive, send)

    application.gate = gate  # type: ignore[attr-defined]  (tests look at the counts)
    return application


async def _gated(gate: Gate, app: ASGIApp, scope: dict, receive: Callable, send: Callable) -> None:
    if not await gate.enter():
        gate.refused += 1
        await busy(send, gate.limits.retry_after_s, "too many live streams are being set up")
        return
    setup = _SetUp(send, gate)
    try:
        await app(scope, receive, setup)
    except Exception:
        if setup.started:
            raise
        log.warning("live stream: set-up failed", exc_info=True)
        if not setup.replaced:
            await busy(send, gate.limits.retry_after_s, "the live stream could not be set up")
    finally:
        setup.release()

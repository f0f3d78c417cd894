"""The live stream: server-sent events from the event log, for the htmx SSE extension.

One ``Hub`` per event loop (one per web process) reads new ``Event`` rows once and hands them to
every open stream, so N browsers cost one query per change, not N. It wakes on Redis pub/sub
(``events.WAKE_CHANNEL``) when ``REDIS_URL`` is set, else it polls the table every
``POLL_INTERVAL_S``. Streams are coroutines: while idle they hold no thread and no database
connection (each read is a short ``sync_to_async`` call that closes its connection).

Each event is sent under its category (``incident``, ``mitigation``, ``audit``, ``backup``… — the
part of its kind before the first dot) and, when its subject is an incident, again under that
incident's id (``INC-00001``), so a page listens with ``hx-trigger="sse:incident"`` or
``hx-trigger="sse:INC-00001"``. The SSE ``id`` is the event id: a reconnecting browser resumes after
it (``Last-Event-ID`` header, or ``?last_event_id=``). Data is only ``{id, kind, subject}``; pages
fetch what they show through their own, permission-checked, partial views.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections import deque
from dataclasses import dataclass

import redis.asyncio as aioredis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET

from . import request_thread
from .events import WAKE_CHANNEL
from .models import Event
from .roles import has_role

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 0.25  # without Redis: how often the hub looks for new rows
SAFETY_POLL_S = 5.0  # with Redis: read anyway this often, in case a wake-up was lost
HEARTBEAT_S = 15.0  # a comment line keeps proxies from closing an idle stream
BUFFER = 2000  # recent events kept in memory for streams that are a little behind
GAP_WAIT_S = 10.0  # how long an id skipped by a still-open transaction is looked for again
BATCH = 500


@dataclass(frozen=True)
class Item:
    seq: int  # arrival order in this hub (ids may commit out of order)
    id: int
    kind: str
    subject: str

    def sse(self) -> str:
        data = json.dumps({"id": self.id, "kind": self.kind, "subject": self.subject})
        category = self.kind.split(".", 1)[0]
        text = f"event: {category}\ndata: {data}\n\n"
        if self.subject.startswith("incident:"):
            text += f"event: {self.subject.split(':', 1)[1]}\ndata: {data}\n\n"
        return f"id: {self.id}\n{text}"


def _read(after: int, extra_ids: tuple[int, ...] = (), limit: int = BATCH) -> list[tuple[int, str, str]]:
    """One short query; the connection is closed before the thread goes back to the pool."""
    try:
        qs = Event.objects.filter(id__gt=after)
        rows = list(qs.order_by("id").values_list("id", "kind", "subject")[:limit])
        if extra_ids:
            rows += list(Event.objects.filter(id__in=extra_ids).values_list("id", "kind", "subject"))
        return rows
    finally:
        connection.close()


def _latest_id() -> int:
    try:
        return Event.objects.order_by("-id").values_list("id", flat=True).first() or 0
    finally:
        connection.close()


read = sync_to_async(_read, thread_sensitive=False)
latest_id = sync_to_async(_latest_id, thread_sensitive=False)


class Hub:
    """Reads the event log once for every stream of this process."""

    def __init__(self) -> None:
        self.items: deque[Item] = deque(maxlen=BUFFER)
        self.seq = 0
        self.cursor: int | None = None  # highest event id read
        self.gaps: dict[int, float] = {}  # skipped ids → when first missed
        self.changed = asyncio.Condition()
        self.starting = asyncio.Lock()
        self.listeners = 0
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        self.listeners += 1
        async with self.starting:  # streams opened together wait for one read of the newest id
            if self.cursor is None:
                self.cursor = await latest_id()
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._run())

    def stop(self) -> None:
        self.listeners -= 1

    async def _run(self) -> None:
        pubsub = await self._subscribe()
        try:
            while self.listeners > 0:
                await self._wait(pubsub)
                try:
                    await self.refresh()
                except Exception as exc:  # the database may be briefly unreachable; keep streams open
                    log.warning("live stream: reading events failed: %s", exc)
                    await asyncio.sleep(1)
        finally:
            if pubsub is not None:
                await pubsub.aclose()
            self.task = None
            if self.listeners > 0:  # a stream arrived while this task was closing
                self.task = asyncio.create_task(self._run())

    async def _subscribe(self):
        if not settings.REDIS_URL:
            return None
        try:
            pubsub = aioredis.Redis.from_url(settings.REDIS_URL).pubsub(ignore_subscribe_messages=True)
            await pubsub.subscribe(WAKE_CHANNEL)
            return pubsub
        except Exception as exc:  # without Redis the hub falls back to polling
            log.warning("live stream: Redis pub/sub unavailable, polling instead: %s", exc)
            return None

    async def _wait(self, pubsub) -> None:
        if pubsub is None:
            await asyncio.sleep(POLL_INTERVAL_S)
            return
        try:
            message = await pubsub.get_message(timeout=SAFETY_POLL_S)
            # Drain wake-ups that arrived together: one read covers them all.
            while message is not None:
                message = await pubsub.get_message(timeout=0)
        except Exception as exc:
            log.warning("live stream: Redis pub/sub failed, polling: %s", exc)
            await asyncio.sleep(POLL_INTERVAL_S)

    async def refresh(self) -> None:
        now = time.monotonic()
        self.gaps = {i: t for i, t in self.gaps.items() if now - t < GAP_WAIT_S}
        rows = await read(self.cursor or 0, tuple(self.gaps))
        fresh = []
        for event_id, kind, subject in sorted(set(rows)):
            if event_id > self.cursor:
                # Ids are handed out before commit: one skipped here may still commit; look again.
                if event_id - self.cursor <= 1000:
                    self.gaps.update(dict.fromkeys(range(self.cursor + 1, event_id), now))
                self.cursor = event_id
            elif self.gaps.pop(event_id, None) is None:
                continue
            self.seq += 1
            fresh.append(Item(self.seq, event_id, kind, subject))
        if fresh:
            async with self.changed:
                self.items.extend(fresh)
                self.changed.notify_all()

    def since(self, seq: int) -> list[Item]:
        if not self.items or self.items[-1].seq <= seq:
            return []
        return list(itertools.islice(self.items, max(0, seq - self.items[0].seq + 1), None))

    async def wait(self, seq: int, timeout: float) -> list[Item]:
        async with self.changed:
            if not self.since(seq):  # checked holding the lock that refresh() notifies under
                try:
                    await asyncio.wait_for(self.changed.wait(), timeout)
                except TimeoutError:
                    pass
        return self.since(seq)


_hubs: dict[asyncio.AbstractEventLoop, Hub] = {}


def hub() -> Hub:
    loop = asyncio.get_running_loop()
    if loop not in _hubs:
        for old in [lp for lp in _hubs if lp.is_closed()]:
            del _hubs[old]
        _hubs[loop] = Hub()
    return _hubs[loop]


def resume_point(request) -> int | None:
    raw = request.headers.get("Last-Event-ID") or request.GET.get("last_event_id") or ""
    return int(raw) if raw.strip().isdigit() and len(raw.strip()) < 19 else None


async def events_after(hub_: Hub, last_id: int) -> tuple[list[Item], int]:
    """What a stream resuming after ``last_id`` missed, and the hub position to continue from."""
    seq = hub_.seq
    buffered = list(hub_.items)
    if buffered and buffered[0].id <= last_id + 1:
        return [i for i in buffered if i.id > last_id], seq
    # Further behind than the buffer: read the table (in batches, bounded), then follow the hub.
    missed: list[Item] = []
    after = last_id
    for _ in range(20):
        rows = await read(after, (), BATCH)
        missed += [Item(0, *row) for row in rows]
        if len(rows) < BATCH:
            break
        after = rows[-1][0]
    return missed, seq


@login_not_required  # answers 401 itself: a redirect to the login page is useless to EventSource
@require_GET
async def event_stream(request):
    """``GET /events/stream/``: the event log as ``text/event-stream``, for logged-in viewers."""
    refused = await sync_to_async(_refusal)(request)
    if refused is not None:
        return refused
    last_id = resume_point(request)
    request_thread.release()  # an idle stream holds no thread (see request_thread)

    async def body():
        h = hub()
        await h.start()
        try:
            yield "retry: 2000\n\n"
            backlog, seq = await events_after(h, last_id) if last_id is not None else ([], h.seq)
            for item in backlog:
                yield item.sse()
            already = {item.id for item in backlog if item.seq == 0}  # read from the table, may come again
            while True:
                items = await h.wait(seq, HEARTBEAT_S)
                if not items:
                    yield ": heartbeat\n\n"
                    continue
                seq = items[-1].seq
                for item in items:
                    if item.id not in already:
                        yield item.sse()
        finally:
            h.stop()

    response = StreamingHttpResponse(body(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


def _refusal(request) -> HttpResponse | None:
    """The session, user and role, checked once on this request's thread, whose one connection is
    given back before the stream starts (not when it ends hours later). A refusal, or None."""
    try:
        if not request.user.is_authenticated:
            return HttpResponse("login required\n", status=401, content_type="text/plain")
        if not has_role(request.user, "viewer"):
            return HttpResponse("viewer role required\n", status=403, content_type="text/plain")
        return None
    finally:
        connection.close()  # looked up here: each thread has its own connection

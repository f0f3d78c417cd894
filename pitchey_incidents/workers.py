"""Which queues have a worker: heartbeat rows the workers write, and what readiness and the dashboard
make of them.

Every worker runs ``HeartbeatStep`` (a consumer step, added in ``pitchey_incidents/celery.py``). While
its broker connection is up it writes one ``WorkerHeartbeat`` row per queue it consumes, every
``WORKER_HEARTBEAT_S``; the step stops when the connection is lost and starts again when it is back, so
a worker cut off from the broker stops saying it consumes anything. Each beat also asks the broker
itself, as the broker check does (``jobs.broker_answers``: Redis a PING): a consumer can miss that its
connection died (its socket no longer polled: celery/celery#8030, kombu's "worker silently stops
consuming" reports), and a worker that only thinks it is connected must not say it consumes.
``queue_status()`` turns the rows into "no worker has been seen for N s" per queue.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from datetime import datetime

from celery import bootsteps
from django.apps import apps
from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from . import jobs
from .queues import QUEUES
from .timefmt import format_duration

log = logging.getLogger(__name__)


def heartbeat_write(*, hostname: str, queues: list[str], pid: int, started_at: datetime) -> None:
    """Upsert this worker's row for each queue it consumes, seen now."""
    model = apps.get_model("pitchey_incidents", "WorkerHeartbeat")  # this module loads before the models
    now = timezone.now()
    rows = [model(hostname=hostname, queue=q, pid=pid, started_at=started_at, seen_at=now) for q in queues]
    model.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["hostname", "queue"], update_fields=["pid", "started_at", "seen_at"]
    )


class _Beater(threading.Thread):
    """Writes the heartbeat while ``connected`` is set and the broker answers; a failed write is logged
    and tried again."""

    def __init__(self, hostname: str, broker_url: str = ""):
        super().__init__(name="heartbeat", daemon=True)
        self.hostname, self.pid, self.started_at = hostname, os.getpid(), timezone.now()
        self.queues: list[str] = []
        self.broker_url = broker_url  # the worker's broker, set again at every (re)connect
        self.connected, self.stopping = threading.Event(), threading.Event()
        self.broker_silent = False  # said once per outage, not at every beat

    def run(self) -> None:
        while not self.stopping.is_set():
            if self.connected.wait(timeout=0.5) and not self.stopping.is_set():
                self.beat()
                self.stopping.wait(settings.WORKER_HEARTBEAT_S)

    def broker_answers(self) -> bool:
        try:
            jobs.broker_answers(self.broker_url, timeout=max(0.2, min(2.0, settings.WORKER_HEARTBEAT_S)))
        except (OSError, ValueError) as exc:
            if not self.broker_silent:
                log.warning("worker heartbeat held: the broker does not answer (%s)", exc)
            self.broker_silent = True
            return False
        if self.broker_silent:
            log.info("worker heartbeat resumed: the broker answers again")
        self.broker_silent = False
        return True

    def beat(self) -> None:
        if not self.broker_answers():
            return
        try:
            close_old_connections()
            heartbeat_write(hostname=self.hostname, queues=self.queues, pid=self.pid, started_at=self.started_at)
        except Exception as exc:  # the database may be down too: say so, keep trying
            log.warning("worker heartbeat not written: %s", exc)
        finally:
            connection.close()  # one short connection per beat: a resting worker holds none


class HeartbeatStep(bootsteps.StartStopStep):
    """Consumer step: beat while connected to the broker (started after the task consumer exists)."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, c, **kwargs):
        super().__init__(c, **kwargs)
        self.beater: _Beater | None = None

    def start(self, c) -> None:
        if self.beater is None:
            self.beater = _Beater(c.hostname)
            self.beater.start()
        self.beater.queues = sorted({q.name for q in c.task_consumer.queues})
        # The configured URL: the connection's own spelling names a transport class instead (the
        # embedded broker's comes back as "pitchey_incidents.broker_fs:Transport://…").
        self.beater.broker_url = c.app.conf.broker_url or ""
        self.beater.connected.set()

    def stop(self, c) -> None:
        if self.beater is not None:
            self.beater.connected.clear()

    def shutdown(self, c) -> None:
        if self.beater is not None:
            self.beater.connected.clear()
            self.beater.stopping.set()
            self.beater.join(timeout=2)


@dataclass
class QueueStatus:
    queue: str
    seen_s_ago: int | None  # None: no worker was ever seen on it
    workers: int  # workers seen within the stale limit
    stale: bool  # nobody within WORKER_STALE_S
    missing: bool  # nobody within WORKER_MISSING_S: readiness fails (critical), an incident opens

    @property
    def message(self) -> str:
        if self.seen_s_ago is None:
            return "no worker has ever been seen"
        if self.stale:
            return f"no worker has been seen for {format_duration(self.seen_s_ago)}"
        return f"{self.workers} worker{'s' if self.workers != 1 else ''}, seen {format_duration(self.seen_s_ago)} ago"

    def as_dict(self) -> dict:
        return {"seen_s_ago": self.seen_s_ago, "workers": self.workers, "ok": not self.stale, "message": self.message}


def queue_status() -> list[QueueStatus]:
    """One entry per queue (one query)."""
    model = apps.get_model("pitchey_incidents", "WorkerHeartbeat")
    now = timezone.now()
    ago: dict[str, list[int]] = {q: [] for q in QUEUES}
    for queue, at in model.objects.filter(queue__in=QUEUES).values_list("queue", "seen_at"):
        ago[queue].append(max(0, int((now - at).total_seconds())))
    return [_status(queue, seen) for queue, seen in ago.items()]


def _status(queue: str, ago: list[int]) -> QueueStatus:
    newest = min(ago) if ago else None
    return QueueStatus(
        queue=queue,
        seen_s_ago=newest,
        workers=sum(1 for a in ago if a <= settings.WORKER_STALE_S),
        stale=newest is None or newest > settings.WORKER_STALE_S,
        missing=newest is None or newest > settings.WORKER_MISSING_S,
    )

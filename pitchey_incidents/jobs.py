"""One way to run a job: on a worker (after the transaction commits), or inline.

Rows are the truth: a job only carries ids, and every task re-reads its row and claims it with a
conditional update, so a lost or doubled message never loses or repeats work. If the broker is
unreachable the row stays queued and a sweeper dispatches it again later.
"""

from __future__ import annotations

import logging
import random
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction

from .outcome import Outcome
from .redis import is_redis, ping

if TYPE_CHECKING:
    from celery import Celery, Task

log = logging.getLogger(__name__)


def celery_app() -> Celery:
    """Our Celery application, configured from settings, is the one tasks are sent through. It is
    loaded on first use rather than with Django: commands that send nothing start faster."""
    from .celery import app  # here, not at the top: loading Celery is the cost this function defers

    return app


# Work that must not wait for a worker (a queue nobody consumes) runs inline inside this scope.
_forced_inline: ContextVar[bool] = ContextVar("jobs_forced_inline", default=False)
# Commands set this: with the broker down, their jobs run here instead of waiting in a dead queue.
_inline_when_broker_down = False


@contextmanager
def inline_dispatch() -> Iterator[None]:
    """Every ``dispatch`` in this scope runs its task here, on commit, instead of queueing it."""
    token = _forced_inline.set(True)
    try:
        yield
    finally:
        _forced_inline.reset(token)


def inline_when_broker_down() -> None:
    """For this process (a command): decide per job, after one fast broker check, inline or queued."""
    global _inline_when_broker_down
    _inline_when_broker_down = True


def dispatch(task: Task, *args: Any, inline: bool = False, countdown: float | None = None) -> None:
    """Run ``task(*args)`` once the current transaction commits: inline, or on a worker."""
    celery_app()
    if inline:
        transaction.on_commit(lambda: run_here(task, args))
    elif _forced_inline.get() or (_inline_when_broker_down and not broker_reachable()):
        if countdown:  # nothing to do before then; the row's sweeper dispatches it when it is due
            log.warning("%s%r is due later: left for the sweeper", task.name, args)
            return
        transaction.on_commit(lambda: _apply_here(task, args))
    else:
        transaction.on_commit(lambda: send(task, *args, countdown=countdown))


def run_here(task: Task, args: tuple) -> Any:
    """The task's body in this process, as Celery's eager mode runs it (``request.is_eager`` set), and
    what it raises propagates. Without Celery's tracing: ``task.apply`` looks up the result backend
    first, which scans the entry points of every installed package, about 0.05 s of CPU per command
    (docs/backups.md, "Where the time goes")."""
    task.push_request(id=str(uuid.uuid4()), args=args, kwargs={}, is_eager=True)
    try:
        return task.run(*args)
    finally:
        task.pop_request()


def _apply_here(task: Task, args: tuple) -> None:
    try:
        run_here(task, args)
    except Exception as exc:  # logged: the row stays for its sweeper
        log.warning("%s%r failed here; its sweeper tries again: %r", task.name, args, exc)


# After a failed publish or check, this process skips the broker for a few seconds: each attempt at a
# dead broker costs seconds (kombu's connect timeout), and the rows are picked up by a sweeper anyway.
BROKER_BACKOFF_S = 5.0
_broker_down_until = 0.0
_broker_up_until = 0.0


def broker_reachable(timeout: float | None = None) -> bool:
    """A fast answer (``BROKER_CHECK_TIMEOUT_S``, no retries): does the broker answer right now?
    Redis is sent a PING; another broker, a TCP connect. The answer is kept a few seconds."""
    global _broker_down_until, _broker_up_until
    now = time.monotonic()
    if now < _broker_down_until:
        return False
    if now < _broker_up_until:
        return True
    url = settings.CELERY_BROKER_URL
    timeout = settings.BROKER_CHECK_TIMEOUT_S if timeout is None else timeout
    try:
        broker_answers(url, timeout)
    except (OSError, ValueError) as exc:
        _broker_down_until = time.monotonic() + BROKER_BACKOFF_S
        log.warning("broker unreachable (%s)", exc.__class__.__name__)
        return False
    _broker_up_until = time.monotonic() + BROKER_BACKOFF_S
    return True


def broker_answers(url: str, timeout: float) -> None:
    """Ask the broker at ``url`` once (Redis a PING, another broker a TCP connect; nothing for the
    embedded ones); ``OSError`` or ``ValueError`` when it does not answer."""
    scheme = url.split("://", 1)[0]
    if scheme.startswith("filesystem") or scheme == "memory":
        return
    if is_redis(url):
        ping(url, timeout)
        return
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname or "localhost", parts.port or 5672), timeout=timeout):
        return


def send(task: Task, *args: Any, countdown: float | None = None) -> bool:
    """Publish now; return False (and log) when the broker cannot be reached."""
    global _broker_down_until
    celery_app()
    if not broker_reachable():  # a fast answer, rather than seconds of kombu's connection retries
        log.warning("broker recently unreachable, %s%r stays queued for the sweeper", task.name, args)
        return False
    try:
        task.apply_async(args=args, countdown=countdown, retry=False)
        return True
    except Exception as exc:  # kombu raises several types for an unreachable broker
        _broker_down_until = time.monotonic() + BROKER_BACKOFF_S
        log.warning("broker unreachable, %s%r stays queued for the sweeper: %s", task.name, args, exc)
        return False


def backoff_delay(attempt: int, *, base: float = 2.0, cap: float = 600.0, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter; a server's ``Retry-After`` is a floor."""
    delay = random.uniform(0, min(cap, base * (2**attempt)))
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def workers_restart(names: list[str] | None = None, *, dry_run: bool = False) -> Outcome:
    """Our own Celery workers (not the platform's): broadcast ``pool_restart`` to the named ones, or all.

    A maintenance command (``manage.py workers restart``), never a runbook mitigation."""
    app = celery_app()
    destination = names or settings.CELERY_WORKER_NAMES or None
    replies = app.control.ping(destination=destination, timeout=settings.WORKERS_PING_TIMEOUT_S) or []
    found = sorted(name for reply in replies for name in reply)
    if not found:
        return Outcome(False, "no worker answered")
    if dry_run:
        return Outcome(True, f"would restart the pool of {', '.join(found)}", {"workers": found})
    answers = app.control.pool_restart(destination=found, reply=True, timeout=5) or []
    done = sorted(n for a in answers for n, r in a.items() if "ok" in r)
    failed = sorted(n for a in answers for n, r in a.items() if "ok" not in r)
    return Outcome(
        bool(done) and not failed,
        f"restarted: {', '.join(done) or 'none'}" + (f"; failed: {', '.join(failed)}" if failed else ""),
        {"workers": done},
    )

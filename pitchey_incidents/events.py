"""The event log: every state change appends an ``Event`` in the same transaction as the change.

The database row is the truth. After commit a wake-up is published on Redis (when configured) so
that live streams read the new rows at once; without Redis they poll the table briefly.

A wake-up is one try, never a wait: it is published from the request (or task) that made the
change, after its commit. While Redis does not answer, the first failure mutes wake-ups for
``WAKE_MUTE_S``, so an alert storm during a Redis outage costs one connection timeout, not one per
event; the streams meanwhile find the rows by their own polls.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.db import transaction

from .models import AuditEntry, Event
from .redis import client

log = logging.getLogger(__name__)
WAKE_CHANNEL = "pitchey:events"
WAKE_MUTE_S = 5.0  # after a failed wake-up, none is tried for this long
_muted_until = 0.0
_clock = time.monotonic


def emit(kind: str, subject: str, data: dict[str, Any] | None = None) -> Event:
    event = Event.objects.create(kind=kind, subject=subject, data=data or {})
    transaction.on_commit(lambda: _wake(event.id))
    return event


def audit(*, actor: str, action: str, target: str = "", dry_run: bool = False, data: dict | None = None) -> AuditEntry:
    entry = AuditEntry.objects.create(actor=actor, action=action, target=target, dry_run=dry_run, data=data or {})
    emit("audit", f"audit:{entry.id}", {"actor": actor, "action": action, "target": target, "dry_run": dry_run})
    return entry


def _wake(event_id: int) -> None:
    global _muted_until
    if not settings.REDIS_URL or _clock() < _muted_until:
        return
    try:
        client().publish(WAKE_CHANNEL, str(event_id))
    except Exception as exc:  # a missed wake-up only delays the stream until its next poll
        _muted_until = _clock() + WAKE_MUTE_S
        log.warning("event wake-up not published (none tried for %g s): %s", WAKE_MUTE_S, exc)


def latest_id() -> int:
    """The newest event's id (0 when there is none): where a page's live stream starts."""
    return Event.objects.order_by("-id").values_list("id", flat=True).first() or 0

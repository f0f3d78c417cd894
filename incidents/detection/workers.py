"""A queue nobody consumes is an incident: the critical queue (paging, escalation, alert intake)
without a worker for more than ``WORKER_MISSING_S`` opens one, once, until a worker is back.

Its pages cannot wait for the worker that is missing: they are sent from here (inline), not queued.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from incidents.lifecycle import services
from incidents.lifecycle.models import Incident, Source, parse_public_id
from pitchey_incidents import jobs
from pitchey_incidents.models import QueueAlarm
from pitchey_incidents.timefmt import format_duration
from pitchey_incidents.workers import QueueStatus, queue_status

ACTOR = "system"
WATCHED = "critical"
SEVERITY = "P1"


def _open_incident(status: QueueStatus) -> Incident | None:
    """The one incident for the queue: the alarm row is locked, so concurrent checks open one. While it
    is open, the queue going without a worker again is noted on it rather than opening another."""
    alarm, _ = QueueAlarm.objects.get_or_create(queue=status.queue)
    alarm = QueueAlarm.objects.select_for_update().get(id=alarm.id)
    open_one = Incident.objects.open().filter(pk=parse_public_id(alarm.incident or "")).first()
    seen = "ever" if status.seen_s_ago is None else f"for {format_duration(status.seen_s_ago)}"
    if open_one is not None:
        if alarm.opened_at is None:  # it had come back: say it is gone again
            message = f"No worker has been seen on the {status.queue} queue {seen}, again"
            services.incident_note(incident=open_one, actor=ACTOR, message=message)
            alarm.opened_at = timezone.now()
            alarm.save(update_fields=["opened_at"])
        return None
    with jobs.inline_dispatch():
        incident = services.incident_declare(
            severity=SEVERITY,
            title=f"No worker consumes the {status.queue} queue",
            description=(
                f"No worker has been seen on the {status.queue} queue {seen}: paging, escalation and alert "
                "intake wait until one is back. Check the worker processes and the broker (Redis)."
            ),
            actor=ACTOR,
            source=Source.PROBE,
            detected_at=timezone.now(),
        )
    alarm.incident, alarm.opened_at = incident.public_id, timezone.now()
    alarm.save(update_fields=["incident", "opened_at"])
    return incident


def _note_back(status: QueueStatus) -> None:
    alarm = QueueAlarm.objects.select_for_update().filter(queue=status.queue, opened_at__isnull=False).first()
    if alarm is None:
        return
    incident = Incident.objects.open().filter(pk=parse_public_id(alarm.incident or "")).first()
    if incident is not None:
        message = f"A worker consumes the {status.queue} queue again"
        services.incident_note(incident=incident, actor=ACTOR, message=message)
    alarm.opened_at = None
    alarm.save(update_fields=["opened_at"])


def workers_check() -> str | None:
    """Open the incident when the watched queue has had no worker too long; note when one is back.
    Returns the public id of an incident it opened."""
    status = next(s for s in queue_status() if s.queue == WATCHED)
    with transaction.atomic():
        if status.missing:
            incident = _open_incident(status)
            return incident.public_id if incident else None
        if not status.stale:
            _note_back(status)
    return None

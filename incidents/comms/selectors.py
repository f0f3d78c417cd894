"""Reads of comms data for other parts of the incident domain (registered as incident facts)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count

from incidents.comms.models import CommunicationDue, Notification
from incidents.lifecycle.facts import keeper
from incidents.lifecycle.models import Incident, format_public_id


@keeper("communications")
def communications_due(incident: Incident) -> list[CommunicationDue]:
    """The communication matrix for this incident: each audience, when it was due and when sent."""
    return list(CommunicationDue.objects.filter(incident=incident).order_by("due_at", "audience"))


@keeper("notification_counts")
def notification_counts(incident: Incident) -> list[tuple[str, str, int]]:
    """(channel, status, count) of the outbox rows for this incident."""
    rows = Notification.objects.filter(incident=incident).values_list("channel", "status").annotate(n=Count("id"))
    return sorted(rows.order_by())


AUTOMATIC_STATUS_KINDS = ("declared", "resolved")  # what the lifecycle posts by itself; a person's update is manual


def automatic_status_updates(since: datetime, limit: int = 50) -> list[str]:
    """Public ids of the incidents whose Statuspage updates went out by themselves since ``since``,
    one per delivery, newest first (the recovery checklist's evidence)."""
    rows = Notification.objects.filter(
        channel="statuspage", status="sent", kind__in=AUTOMATIC_STATUS_KINDS, sent_at__gte=since
    ).exclude(incident=None)
    return [format_public_id(i) for i in rows.order_by("-sent_at").values_list("incident_id", flat=True)[:limit]]

"""Reads of comms data for other parts of the incident domain (registered as incident facts)."""

from __future__ import annotations

from django.db.models import Count

from incidents.comms.models import CommunicationDue, Notification
from incidents.lifecycle.facts import keeper
from incidents.lifecycle.models import Incident


@keeper("communications")
def communications_due(incident: Incident) -> list[CommunicationDue]:
    """The communication matrix for this incident: each audience, when it was due and when sent."""
    return list(CommunicationDue.objects.filter(incident=incident).order_by("due_at", "audience"))


@keeper("notification_counts")
def notification_counts(incident: Incident) -> list[tuple[str, str, int]]:
    """(channel, status, count) of the outbox rows for this incident."""
    rows = Notification.objects.filter(incident=incident).values_list("channel", "status").annotate(n=Count("id"))
    return sorted(rows.order_by())

"""Fragments other pages include with one line: ``{% load communications %}`` then
``{% incident_communications incident %}`` (incident page) or ``{% oncall_now %}`` (dashboard)."""

from __future__ import annotations

from django import template
from django.utils import timezone

from incidents.comms import oncall
from incidents.comms.models import CommunicationDue, Notification
from incidents.lifecycle.models import OPEN_STATUSES, TimelineEntry
from pitchey_incidents.roles import has_role

register = template.Library()


@register.inclusion_tag("incidents/comms/_communications.html", takes_context=True)
def incident_communications(context, incident):
    now = timezone.now()
    dues = list(CommunicationDue.objects.filter(incident=incident).order_by("due_at", "audience"))
    for due in dues:
        due.incident = incident
        due.view = due.state(now)
    notifications = list(Notification.objects.filter(incident=incident).order_by("created_at", "id"))
    request = context.get("request")
    return {
        "now": now,  # Django's timesince/timeuntil would read datetime.now(), not the app's clock
        "incident": incident,
        "dues": dues,
        "can_mark_sent": bool(request and has_role(request.user, "commander")),
        "request": request,
        "csrf_token": context.get("csrf_token"),
        "notifications": notifications,
        "problems": [n for n in notifications if n.status in ("failed", "unconfirmed")],
    }


@register.inclusion_tag("incidents/comms/_oncall.html")
def oncall_now():
    return {"rotations": oncall.oncall_overview(), "contacts": oncall.emergency_contacts()}


@register.inclusion_tag("incidents/comms/_unroutable.html")
def unroutable_banner(incident=None):
    """Red, for every open incident (or this one) with a level that paged nobody."""
    entries = TimelineEntry.objects.filter(kind="paged", data__unroutable=True, incident__status__in=OPEN_STATUSES)
    if incident is not None:
        entries = entries.filter(incident=incident)
    rows = list(entries.select_related("incident").order_by("incident_id", "at", "id")[:50])
    return {"entries": rows, "single": incident is not None}

"""Fragments other pages include with one line: ``{% load communications %}`` then
``{% incident_communications incident %}`` (incident page) or ``{% oncall_now %}`` (dashboard)."""

from __future__ import annotations

from django import template
from django.utils import timezone

from incidents.comms import oncall
from incidents.comms.models import CommunicationDue, Notification

register = template.Library()


@register.inclusion_tag("incidents/comms/_communications.html")
def incident_communications(incident):
    dues = list(CommunicationDue.objects.filter(incident=incident).order_by("due_at", "audience"))
    notifications = list(Notification.objects.filter(incident=incident).order_by("created_at", "id"))
    return {
        "now": timezone.now(),  # Django's timesince/timeuntil would read datetime.now(), not the app's clock
        "incident": incident,
        "dues": dues,
        "notifications": notifications,
        "problems": [n for n in notifications if n.status in ("failed", "unconfirmed")],
    }


@register.inclusion_tag("incidents/comms/_oncall.html")
def oncall_now():
    return {"rotations": oncall.oncall_overview(), "contacts": oncall.emergency_contacts()}

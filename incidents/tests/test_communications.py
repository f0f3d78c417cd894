"""The communication matrix per incident: due times from the severity policy, marked sent by the
matching delivery, shown with countdowns on the incident page, and one reminder when overdue."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import models

from incidents.comms.models import CommunicationDue, Notification
from incidents.comms.services import communications_remind, notification_deliver
from incidents.lifecycle import services

pytestmark = pytest.mark.django_db


def dues(incident) -> dict[str, tuple[str, int | None]]:
    return {
        d.audience: (d.requirement, round((d.due_at - incident.declared_at).total_seconds()) if d.due_at else None)
        for d in CommunicationDue.objects.filter(incident=incident)
    }


def test_due_times_follow_the_runbook_matrix(users, settings):
    p1 = services.incident_declare(severity="P1", title="Auth errors", actor=users["commander"])
    assert dues(p1) == {
        "internal": ("required", 0),
        "external": ("required", 1800),
        "status_page": ("required", 900),
        "customer_email": ("required", 3600),
    }
    p2 = services.incident_declare(severity="P2", title="Slow", actor=users["commander"])
    assert dues(p2)["customer_email"] == ("optional", None)
    p3 = services.incident_declare(severity="P3", title="Typo", actor=users["commander"])
    assert set(dues(p3)) == {"internal", "external", "status_page"}  # customer email: "No"
    # without Statuspage configured, the built-in /status/ page carries it at once
    assert CommunicationDue.objects.get(incident=p1, audience="status_page").sent_via == "built-in status page"


def test_a_new_severity_brings_its_own_matrix_from_now_on(users, settings, clock):
    incident = services.incident_declare(severity="P2", title="Slow checkout", actor=users["commander"])
    CommunicationDue.objects.filter(incident=incident).update(
        due_at=models.F("due_at") - timedelta(minutes=20)
    )  # declared 20 minutes ago, nothing sent but the built-in status page
    before = clock.now
    services.incident_change_severity(
        incident=incident, severity="P0", reason="checkout down for everyone", actor=users["commander"]
    )
    rows = {d.audience: d for d in CommunicationDue.objects.filter(incident=incident)}
    after = clock.now
    # P0: internal immediate (it was already overdue at P2: the earlier time stays), external 15 min
    # from now (tighter than P2's 2 hours), customer email newly required within 30 min from now.
    assert rows["internal"].due_at < before and rows["internal"].requirement == "required"
    assert before + timedelta(minutes=15) <= rows["external"].due_at <= after + timedelta(minutes=15)
    assert rows["customer_email"].requirement == "required"
    assert before + timedelta(minutes=30) <= rows["customer_email"].due_at <= after + timedelta(minutes=30)
    assert rows["status_page"].sent_via == "built-in status page"
    external_due = rows["external"].due_at

    services.incident_change_severity(incident=incident, severity="P3", reason="workaround", actor=users["commander"])
    rows = {d.audience: d for d in CommunicationDue.objects.filter(incident=incident)}
    assert "customer_email" not in rows  # P3: no customer email; it had not been sent
    assert rows["external"].due_at == external_due  # a looser deadline never postpones a promised one
    assert rows["status_page"].sent_via == "built-in status page"  # what was sent stays on record


def test_deliveries_mark_their_audience_sent_and_overdue_ones_remind_once(users, vendors, client, clock):
    incident = services.incident_declare(severity="P1", title="Auth errors", actor=users["commander"])
    internal = Notification.objects.filter(incident=incident, channel="slack", target="critical").get()
    assert notification_deliver(notification_id=internal.id) == "sent"
    assert CommunicationDue.objects.get(incident=incident, audience="internal").sent_via == "slack:critical"

    CommunicationDue.objects.filter(incident=incident, audience="external").update(
        due_at=clock.now - timedelta(minutes=1)
    )
    assert communications_remind() == 1
    assert communications_remind() == 0  # once
    entry = incident.timeline.get(kind="communication_overdue")
    assert entry.message.startswith("The external communication was due")
    reminders = Notification.objects.filter(incident=incident, channel="slack", kind="reminder")
    assert [r.target for r in reminders] == ["critical"]
    assert notification_deliver(notification_id=reminders[0].id) == "sent"
    text = vendors.slack.messages("critical")[-1]["text"]
    assert text.startswith(f"⏰ OVERDUE: the external communication for {incident.public_id} (P1) Auth errors")

    client.force_login(users["viewer"])
    clock.advance(seconds=30)  # the page is read a little after the declaration
    page = client.get(incident.get_absolute_url()).content.decode()
    assert '<tr class="due-sent">' in page and "sent" in page and "via slack:critical" in page
    assert '<tr class="due-overdue">' in page and "overdue by" in page
    assert '<tr class="due-pending">' in page and "in 59" in page  # customer email: due in an hour

    services.incident_post_update(
        incident=incident, public_status="identified", message="Fix rolling out", actor=users["commander"]
    )
    assert CommunicationDue.objects.get(incident=incident, audience="external").sent_via == "public update"

"""Communication states say what is true: not configured is not overdue, a commander can mark an
audience sent by hand, countdowns stop at resolution, on-time posts say so; the post-mortem meeting is
"not scheduled" until a date is set and "missed" past 72 h."""

from __future__ import annotations

from datetime import timedelta

import pytest

from incidents.comms.models import CommunicationDue
from incidents.comms.services import communications_remind
from incidents.lifecycle import services
from incidents.postmortems import selectors as pm_selectors
from incidents.postmortems import services as pm_services
from incidents.postmortems.models import PostMortem

pytestmark = pytest.mark.django_db


def _nothing_configured(settings) -> None:
    for name in ("SLACK_WEBHOOK", "SLACK_WEBHOOK_CRITICAL", "SLACK_WEBHOOK_WARNING", "CUSTOMER_EMAILS"):
        setattr(settings, name, "" if name != "CUSTOMER_EMAILS" else [])
    settings.STATUSPAGE_API_KEY = ""


def due(incident, audience: str) -> CommunicationDue:
    row = CommunicationDue.objects.select_related("incident").get(incident=incident, audience=audience)
    return row


def test_unconfigured_audience_is_never_overdue_and_says_what_to_set(users, settings, clock, client):
    _nothing_configured(settings)
    incident = services.incident_declare(severity="P0", title="Database down", actor=users["commander"])
    clock.advance(seconds=2)
    internal = due(incident, "internal")
    assert internal.state() == {
        "state": "not_configured",
        "text": "not configured (set SLACK_WEBHOOK)",
        "countdown": False,
    }
    assert not internal.overdue
    clock.advance(hours=3)
    assert not due(incident, "internal").overdue
    assert due(incident, "customer_email").state()["text"] == "not configured (set CUSTOMER_EMAILS)"
    assert communications_remind() == 1  # only the external update (a person's post) is overdue
    assert list(incident.timeline.filter(kind="communication_overdue").values_list("data__audience", flat=True)) == [
        "external"
    ]
    # The built-in status page posted at once: on time, not "late by 0 s".
    assert due(incident, "status_page").state()["text"] == "sent on time"

    client.force_login(users["viewer"])
    page = client.get(incident.get_absolute_url()).content.decode()
    assert "not configured (set SLACK_WEBHOOK)" in page and "overdue by 0" not in page
    assert "sent on time" in page and "Mark as sent" not in page  # viewers see no buttons


def test_commander_marks_an_audience_sent_by_hand_with_a_note_on_the_timeline(users, settings, client):
    _nothing_configured(settings)
    incident = services.incident_declare(severity="P1", title="Auth errors", actor=users["commander"])
    url = f"/incidents/{incident.public_id}/mark_sent/"
    client.force_login(users["responder"])
    assert client.post(url, {"audience": "internal", "note": "x"}).status_code == 403
    client.force_login(users["commander"])
    page = client.get(incident.get_absolute_url()).content.decode()
    assert "Mark internal as sent" in page
    r = client.post(url, {"audience": "internal", "note": "Posted in #incidents from my phone"})
    assert r.status_code == 302
    internal = due(incident, "internal")
    assert internal.sent_at is not None and internal.sent_via == "by hand (commander)"
    assert internal.state()["text"] == "marked sent by hand on time"
    entry = incident.timeline.get(kind="communication_marked_sent")
    assert entry.message == "Internal communication marked as sent by hand: Posted in #incidents from my phone"
    assert entry.actor == "commander"
    r = client.post(url, {"audience": "internal", "note": "again"})
    assert r.status_code == 400 and "already sent" in r.content.decode()
    assert client.post(url, {"audience": "nonsense"}).status_code == 400


def test_countdowns_stop_when_the_incident_is_resolved(users, settings, clock, client):
    settings.SLACK_WEBHOOK = "http://127.0.0.1:9/hook"
    settings.CUSTOMER_EMAILS = ["ops@example.com"]
    incident = services.incident_declare(severity="P1", title="Auth errors", actor=users["commander"])
    clock.advance(minutes=2)
    email = due(incident, "customer_email")
    assert email.state(clock.now) == {"state": "pending", "text": "due in 58 min", "countdown": True}
    clock.advance(hours=2)
    assert due(incident, "customer_email").overdue
    services.incident_resolve(incident=incident, resolution="Rolled back", actor=users["commander"])
    email = due(incident, "customer_email")
    assert email.state() == {"state": "stopped", "text": "not sent (incident resolved)", "countdown": False}
    assert not email.overdue
    client.force_login(users["viewer"])
    page = client.get(incident.get_absolute_url()).content.decode()
    assert "not sent (incident resolved)" in page and "due in" not in page


def _resolved(users, clock):
    incident = services.incident_declare(severity="P2", title="Slow", actor=users["commander"])
    services.incident_resolve(incident=incident, resolution="Fixed", actor=users["commander"])
    return PostMortem.objects.get(incident=incident)


def test_meeting_is_not_scheduled_until_a_date_is_set_and_missed_after_72_hours(users, clock):
    pm = _resolved(users, clock)
    rows = {r["name"]: r for r in pm_selectors.deadline_rows(pm)}
    assert rows["meeting_scheduled"]["text"].startswith("not scheduled")
    # Completing the post-mortem writes the report; it does not hold a meeting.
    sections = {name: "written" for name in pm.empty_sections()}
    pm_services.postmortem_update(incident=pm.incident_id, sections=sections, actor=users["commander"])
    pm_services.postmortem_complete(incident=pm.incident_id, actor=users["commander"])
    pm = PostMortem.objects.get(pk=pm.pk)
    meeting = pm.deadlines.get(name="meeting_scheduled")
    assert meeting.done_at is None
    assert {r["name"]: r for r in pm_selectors.deadline_rows(pm)}["meeting_scheduled"]["state"] == "due"
    clock.advance(hours=73)
    row = {r["name"]: r for r in pm_selectors.deadline_rows(pm)}["meeting_scheduled"]
    assert row["state"] == "overdue" and row["text"].startswith("missed")


def test_meeting_with_a_date_reads_as_scheduled(users, clock):
    pm = _resolved(users, clock)
    when = clock.now + timedelta(days=2)
    pm_services.postmortem_update(incident=pm.incident_id, meeting_at=when, actor=users["commander"])
    row = {r["name"]: r for r in pm_selectors.deadline_rows(PostMortem.objects.get(pk=pm.pk))}["meeting_scheduled"]
    assert row["state"] == "done" and row["text"].startswith("scheduled for ")

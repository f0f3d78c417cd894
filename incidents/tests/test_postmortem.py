"""Post-mortems: opened on resolve with the runbook's deadlines, a draft from the record, completion
closes the incident (409 before), Markdown export, reminders once when overdue (controlled clock)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from incidents.comms.channels.base import render
from incidents.comms.models import Notification
from incidents.lifecycle import services
from incidents.lifecycle.models import Incident, Status, TimelineEntry
from incidents.postmortems import services as postmortem_services
from incidents.postmortems.models import ActionItem, PostMortem
from pitchey_incidents.errors import InvalidTransition
from recovery.models import Objective, RecoveryRun

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
PLAIN_STATIC = "django.contrib.staticfiles.storage.StaticFilesStorage"  # tests do not run collectstatic
FULL = {
    "summary": "Primary database stopped answering.",
    "impact": "API down for 42 minutes.",
    "root_cause": "Disk full on the primary.",
    "contributing_factors": "No disk alert.",
    "what_went_well": "Failover runbook worked.",
    "what_went_badly": "Paging took 10 minutes.",
    "lessons": "Alert on disk usage at 80 %.",
}


def resolved_incident(users, clock, *, title="Database outage") -> Incident:
    commander = users["commander"]
    incident = services.incident_declare(
        severity="P1", title=title, services=["database", "api"], actor=commander, detected_at=T0 - timedelta(minutes=3)
    )
    Incident.objects.filter(pk=incident.pk).update(declared_at=T0)
    TimelineEntry.objects.filter(incident=incident).update(at=T0)
    clock.advance(minutes=4)
    services.incident_acknowledge(incident=incident, actor=commander)
    clock.advance(minutes=1)
    services.incident_change_severity(
        incident=incident, severity="P0", reason="all customers affected", actor=commander
    )
    clock.advance(minutes=5)
    mitigation = services.mitigation_start(incident=incident, action="enable_read_only", actor=commander)
    services.mitigation_execute(mitigation_id=mitigation.id)
    clock.advance(minutes=20)
    services.incident_monitor(incident=incident, actor=commander, message="Failover done; watching")
    clock.advance(minutes=12)
    services.incident_resolve(incident=incident, resolution="Replica promoted", actor=commander)
    return Incident.objects.get(pk=incident.pk)


def test_resolve_opens_postmortem_with_deadlines_and_a_draft_from_the_record(users, clock, api):
    incident = resolved_incident(users, clock)
    resolved_at = T0 + timedelta(minutes=42)
    assert incident.resolved_at == resolved_at
    body = api("viewer").get(f"/api/v1/incidents/{incident.public_id}/postmortem/").json()
    assert body["incident"] == incident.public_id and body["status"] == "draft"
    due = {d["name"]: d["due_at"] for d in body["deadlines"]}
    assert due == {
        "initial_report": "2026-11-03T09:42:00Z",
        "meeting_scheduled": "2026-11-05T09:42:00Z",
        "complete": "2026-11-09T09:42:00Z",
        "action_items": "2026-11-16T09:42:00Z",
    }
    assert all(d["done_at"] is None for d in body["deadlines"])
    _assert_draft_sections(body)
    _assert_markdown_export(api, incident)


def _assert_draft_sections(body):
    sections = body["sections"]
    assert set(sections) == {
        "summary",
        "impact",
        "root_cause",
        "contributing_factors",
        "what_went_well",
        "what_went_badly",
        "lessons",
    }
    assert sections["summary"].startswith("P0 incident “Database outage” declared 2026-11-02 09:00 UTC")
    assert "resolved after 42 min" in sections["summary"] and "Replica promoted" in sections["summary"]
    impact = sections["impact"]
    assert "Database (RTO target 15 min)" in impact and "API Gateway" in impact
    assert "Detected 3 min before it was declared" in impact
    assert (
        "Acknowledged after 4 min" in impact and "Mitigated after 10 min" in impact
    )  # the mitigation succeeded at 09:10
    assert "Resolved after 42 min" in impact and "Severity P1 → P0: all customers affected" in impact
    assert sections["root_cause"] == "" and sections["lessons"] == ""


def _assert_markdown_export(api, incident):
    md = api("viewer").get(f"/api/v1/incidents/{incident.public_id}/postmortem.md")
    assert md.status_code == 200 and md["Content-Type"].startswith("text/markdown")
    assert f'filename="{incident.public_id}-postmortem.md"' in md["Content-Disposition"]
    text = md.content.decode()
    timeline = text.split("## Timeline", 1)[1].split("## Mitigations", 1)[0]
    for expected in (
        "2026-11-02 09:00:00 UTC **declared** (commander): P1 incident declared: Database outage",
        "2026-11-02 09:04:00 UTC **acknowledged** (commander)",
        "2026-11-02 09:05:00 UTC **severity_changed** (commander): Severity P1 → P0: all customers affected",
        "**mitigation_requested**",
        "**mitigation_succeeded**",
        "2026-11-02 09:30:00 UTC **monitoring** (commander): Failover done; watching",
        "2026-11-02 09:42:00 UTC **resolved** (commander): Resolved: Replica promoted",
    ):
        assert expected in timeline
    assert "postmortem_opened" not in timeline  # bookkeeping is not part of the story
    row = "| enable_read_only | commander | succeeded | READ_ONLY_MODE is on (changed: flags) — flags: turned"
    assert row in text
    assert "## Root cause\n\n_(not written yet)_" in text
    # Communications sent against their due times (the P1 matrix at declaration, tightened to P0's when
    # the severity was raised at 09:05; no channels configured).
    comms = text.split("## Communications", 1)[1]
    assert (
        "| Internal | Required | 2026-11-02 09:00:00 UTC | — | — | not sent (not configured: set SLACK_WEBHOOK) |"
        in comms
    )
    assert (
        "| Status page | Required | 2026-11-02 09:15:00 UTC | 2026-11-02 09:00:00 UTC "
        "| built-in status page | on time |" in comms
    )
    assert (
        "| Customer email | Required | 2026-11-02 09:35:00 UTC | — | — "
        "| not sent (not configured: set CUSTOMER_EMAILS) |" in (comms)
    )


def test_edit_complete_and_close(users, clock, api):
    incident = resolved_incident(users, clock)
    url = f"/api/v1/incidents/{incident.public_id}/postmortem/"
    assert api("viewer").patch(url, {"sections": {"lessons": "x"}}, format="json").status_code == 403
    assert api(None).get(url).status_code == 401
    assert api("nobody").get(url).status_code == 403

    r = api("responder").patch(url, {"sections": {"bogus": "x"}}, format="json")
    assert r.status_code == 400 and "sections" in r.json()
    r = api("responder").patch(url, {"status": "complete"}, format="json")
    assert r.status_code == 400 and "status" in r.json()
    r = api("responder").patch(url, {"meeting_at": "not a date"}, format="json")
    assert r.status_code == 400 and "meeting_at" in r.json()
    assert PostMortem.objects.get(incident=incident).lessons == ""

    _assert_close_refused_while_incomplete(users, api, incident, url)
    _write_meet_deadlines_and_complete(clock, api, incident, url)


def _assert_close_refused_while_incomplete(users, api, incident, url):
    # Closing (directly or by completing) is refused while the post-mortem is incomplete.
    with pytest.raises(InvalidTransition):
        services.incident_close(incident=incident, actor=users["commander"])
    r = api("commander").post(url + "complete/")
    assert r.status_code == 409 and "root_cause" in r.json()["detail"] and r.json()["status"] == "draft"
    assert Incident.objects.get(pk=incident.pk).status == Status.RESOLVED


def _write_meet_deadlines_and_complete(clock, api, incident, url):
    clock.advance(hours=2)
    partial = {k: FULL[k] for k in ("summary", "impact", "root_cause")}
    r = api("responder").patch(url, {"sections": partial, "status": "in_review"}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "in_review"
    done = {d["name"]: d["done_at"] for d in r.json()["deadlines"]}
    assert done["initial_report"] == "2026-11-02T11:42:00Z" and done["meeting_scheduled"] is None
    r = api("responder").patch(url, {"meeting_at": "2026-11-04T15:00:00Z"}, format="json")
    assert {d["name"]: d["done_at"] for d in r.json()["deadlines"]}["meeting_scheduled"] == "2026-11-02T11:42:00Z"
    assert r.json()["meeting_at"] == "2026-11-04T15:00:00Z"

    r = api("commander").post(url + "complete/")
    assert r.status_code == 409 and "lessons" in r.json()["detail"] and "root_cause" not in r.json()["detail"]
    assert api("responder").patch(url, {"sections": FULL}, format="json").status_code == 200
    assert api("responder").post(url + "complete/").status_code == 403
    clock.advance(days=1)
    r = api("commander").post(url + "complete/")
    assert r.status_code == 200, r.content
    assert r.json()["status"] == "complete"
    done = {d["name"]: d["done_at"] for d in r.json()["deadlines"]}
    assert done["complete"] == "2026-11-03T11:42:00Z" and done["action_items"] == "2026-11-03T11:42:00Z"
    incident.refresh_from_db()
    assert incident.status == Status.CLOSED and incident.closed_at == clock.now
    kinds = list(TimelineEntry.objects.filter(incident=incident).values_list("kind", flat=True))
    assert kinds[-2:] == ["postmortem_completed", "closed"]
    assert api("responder").patch(url, {"sections": {"lessons": "late"}}, format="json").status_code == 409
    assert api("commander").post(url + "complete/").status_code == 409


def test_postmortem_of_unresolved_incident_is_404(users, api):
    incident = services.incident_declare(severity="P2", title="Slow", actor=users["commander"])
    assert api("viewer").get(f"/api/v1/incidents/{incident.public_id}/postmortem/").status_code == 404
    assert api("viewer").get("/api/v1/incidents/INC-99999/postmortem/").status_code == 404
    r = api("responder").patch(f"/api/v1/incidents/{incident.public_id}/postmortem/", {}, format="json")
    assert r.status_code == 404


def test_deadline_and_action_item_reminders_are_sent_once_when_overdue(users, clock, settings):
    incident = resolved_incident(users, clock)  # resolved at T0+42min
    item = postmortem_services.action_item_create(
        incident=incident, title="Disk alert at 80 %", owner="responder", actor=users["commander"]
    )
    assert item.due_at == T0 + timedelta(minutes=42, days=14)
    on_time = postmortem_services.action_item_create(
        incident=incident, title="Runbook link", due_at=T0 + timedelta(days=30), actor=users["commander"]
    )

    def reminders():
        return list(
            TimelineEntry.objects.filter(incident=incident, kind__in=["postmortem_overdue", "action_item_overdue"])
            .order_by("id")
            .values_list("message", flat=True)
        )

    _first_reminder_is_sent_once(clock, settings, incident, reminders)
    _later_reminders(clock, incident, item, on_time, reminders)


def _first_reminder_is_sent_once(clock, settings, incident, reminders):
    clock.now = T0 + timedelta(hours=24, minutes=41)
    assert postmortem_services.reminders_send() == {"deadlines": 0, "action_items": 0}
    settings.SLACK_WEBHOOK = "http://127.0.0.1:9/services/T0/B0/x"  # the outbox row is the assertion
    settings.SITE_URL = "https://incidents.example.com"
    clock.now = T0 + timedelta(hours=24, minutes=43)
    assert postmortem_services.reminders_send() == {"deadlines": 1, "action_items": 0}
    assert reminders() == ["Overdue: Initial incident report was due 2026-11-03 09:42 UTC (1 min ago)"]
    outbox = Notification.objects.get(kind="postmortem_reminder")
    assert outbox.channel == "slack" and outbox.incident_id == incident.pk and outbox.status == "pending"
    assert outbox.context["deadline"] == "initial_report"
    assert render("postmortem_reminder", outbox.context) == (
        f"[{incident.public_id}] ⏰ {reminders()[0]}\n"
        f"https://incidents.example.com/incidents/{incident.public_id}/postmortem/"
    )
    assert postmortem_services.reminders_send() == {"deadlines": 0, "action_items": 0}  # once each


def _later_reminders(clock, incident, item, on_time, reminders):
    # The meeting gets scheduled before its deadline: no reminder for it.
    postmortem_services.postmortem_update(incident=incident, actor="commander", meeting_at=T0 + timedelta(days=2))
    clock.now = T0 + timedelta(days=8)
    assert postmortem_services.reminders_send() == {"deadlines": 1, "action_items": 0}
    assert reminders()[-1].startswith("Overdue: Post-mortem complete was due 2026-11-09 09:42 UTC")

    clock.now = T0 + timedelta(days=15)
    assert postmortem_services.reminders_send() == {"deadlines": 1, "action_items": 1}
    assert reminders()[-1] == (
        "Overdue action item “Disk alert at 80 %” (owner responder) was due 2026-11-16 09:42 UTC"
    )
    assert postmortem_services.reminders_send() == {"deadlines": 0, "action_items": 0}
    assert ActionItem.objects.get(pk=on_time.pk).reminded_at is None
    # A new due date earns a new reminder if it slips again.
    postmortem_services.action_item_update(item=item, due_at=T0 + timedelta(days=16), actor="commander")
    clock.now = T0 + timedelta(days=17)
    assert postmortem_services.reminders_send() == {"deadlines": 0, "action_items": 1}
    assert Notification.objects.filter(kind="postmortem_reminder").count() == 5  # one per reminder


def test_draft_has_the_recovery_runs_rto_rpo_table(users, clock, api, settings):

    incident = resolved_incident(users, clock)
    run = RecoveryRun.objects.create(
        kind="run",
        plan="database",
        status="succeeded",
        incident=incident.public_id,
        requested_by="commander",
        finished_at=T0 + timedelta(minutes=28),
    )
    Objective.objects.create(
        run=run, kind="rto", subject="database", name="Database", target_s=900, max_s=1800, achieved_s=1200, met=False
    )
    Objective.objects.create(
        run=run, kind="rpo", subject="database", name="Database", target_s=3600, max_s=14400, achieved_s=300, met=True
    )
    RecoveryRun.objects.create(kind="run", plan="api", status="running", incident="INC-99999", requested_by="x")
    text = api("viewer").get(f"/api/v1/incidents/{incident.public_id}/postmortem.md").content.decode()
    table = text.split("## Recovery: achieved RTO and RPO", 1)[1].split("## Communications", 1)[0]
    assert (
        f"| run #{run.id} | database | succeeded | 2026-11-02 09:28 UTC | RPO | Database | 1 h | 4 h | 5 min | yes |"
        in table
    )
    assert (
        f"| run #{run.id} | database | succeeded | 2026-11-02 09:28 UTC "
        "| RTO | Database | 15 min | 30 min | 20 min | **no** |" in table
    )
    assert "api" not in table  # another incident's run
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": PLAIN_STATIC}}
    client = Client()
    client.force_login(users["viewer"])
    page = re.sub(r">\s+<", "><", client.get(f"/incidents/{incident.public_id}/postmortem/").content.decode())
    assert "<td>RTO</td><td>Database</td><td>15 min</td><td>30 min</td><td>20 min</td><td><strong" in page


def test_action_items_api(users, clock, api):
    incident = resolved_incident(users, clock)
    other = resolved_incident(users, clock, title="Cache stampede")
    url = "/api/v1/action-items/"
    assert api("viewer").post(url, {"incident": incident.public_id, "title": "x"}, format="json").status_code == 403
    assert api(None).get(url).status_code == 401
    for body, field in (
        ({"title": "No incident"}, "incident"),
        ({"incident": "INC-99999", "title": "x"}, "incident"),
        ({"incident": incident.public_id, "title": "  "}, "title"),
        ({"incident": incident.public_id, "title": "x", "owner": "ghost"}, "owner"),
        ({"incident": incident.public_id, "title": "x", "due_at": "soon"}, "due_at"),
        ({"incident": incident.public_id, "title": "x", "status": "maybe"}, "status"),
    ):
        r = api("responder").post(url, body, format="json")
        assert r.status_code == 400 and field in r.json(), (body, r.content)
    assert not ActionItem.objects.exists()

    r = api("responder").post(url, {"incident": incident.public_id, "title": "Disk alert", "owner": "responder"})
    assert r.status_code == 201, r.content
    first = r.json()
    assert (
        first["due_at"] == "2026-11-16T10:24:00Z"
    )  # two weeks after creation (clock at T0 + 84 min) and first["owner"] == "responder" and first["status"] == "open"
    assert first["incident"] == incident.public_id and first["overdue"] is False
    r = api("responder").post(
        url, {"incident": other.public_id, "title": "Jitter TTLs", "due_at": "2026-11-03T00:00:00Z"}, format="json"
    )
    late = r.json()
    clock.now = T0 + timedelta(days=3)
    listed = api("viewer").get(url + "?status=open").json()
    assert [i["title"] for i in listed] == ["Jitter TTLs", "Disk alert"]  # overdue first
    assert listed[0]["overdue"] is True and listed[0]["owner"] is None
    assert [i["title"] for i in api("viewer").get(f"{url}?incident={incident.public_id}").json()] == ["Disk alert"]
    assert api("viewer").get(url + "?status=later").status_code == 400

    _update_and_delete(api, incident, url, first, late)


def _update_and_delete(api, incident, url, first, late):
    r = api("responder").patch(f"{url}{late['id']}/", {"status": "done", "owner": "commander"}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "done" and r.json()["done_at"] is not None
    assert (
        api("responder").patch(f"{url}{late['id']}/", {"incident": incident.public_id}, format="json").status_code
        == 400
    )
    assert [i["title"] for i in api("viewer").get(url + "?status=open").json()] == ["Disk alert"]
    pm = api("viewer").get(f"/api/v1/incidents/{incident.public_id}/postmortem/").json()
    assert [(i["title"], i["owner"]) for i in pm["action_items"]] == [("Disk alert", "responder")]
    assert api("responder").delete(f"{url}{first['id']}/").status_code == 204
    assert api("viewer").get(f"{url}{first['id']}/").status_code == 404
    kinds = list(TimelineEntry.objects.filter(incident=incident).values_list("kind", flat=True))
    assert kinds[-2:] == ["action_item_created", "action_item_deleted"]

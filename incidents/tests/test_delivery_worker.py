"""Delivery through a real Celery worker: on time, exactly once across a SIGKILL; and with the broker
down at declaration time, the command sends the pages itself."""

from __future__ import annotations

import subprocess
import sys

import pytest

from incidents.comms.models import Notification
from incidents.lifecycle import services
from incidents.lifecycle.models import Incident
from pitchey_incidents.testing import ROOT, child_env, free_port, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("clean_broker")]

SWEEP = {"NOTIFICATION_SWEEP_S": "0.5", "NOTIFICATION_SWEEP_GRACE_S": "1", "ESCALATION_TICK_S": "0.5"}


def statuses(incident) -> dict[str, str]:
    return {n.label: n.status for n in Notification.objects.filter(incident=incident, kind="declared")}


def test_a_p0_pages_pagerduty_posts_to_slack_and_opens_the_status_page_incident(worker, vendors, users):
    worker(**vendors.env)
    vendors.pagerduty.fail_next(429, '{"status":"throttled"}', {"Retry-After": "1"})
    vendors.statuspage.fail_next(503, "upstream unavailable")
    incident = services.incident_declare(
        severity="P0", title="Database Outage", services=["database"], actor=users["commander"]
    )
    key = f"pitchey-incidents/{incident.public_id}"
    wait_for(lambda: vendors.pagerduty.opened.get(key) == 1, timeout=30, message="the PagerDuty trigger")
    wait_for(lambda: vendors.slack.messages("critical") and vendors.slack.messages("incidents"), timeout=30)
    wait_for(lambda: vendors.statuspage.incidents, timeout=30, message="the Statuspage incident")
    wait_for(lambda: set(statuses(incident).values()) == {"sent"}, timeout=30, message="every row sent")
    assert vendors.slack.messages("critical")[0]["text"].startswith(f"🚨 INCIDENT DECLARED: {incident.public_id}")
    pd = Notification.objects.get(incident=incident, channel="pagerduty")
    assert pd.attempts == 2  # throttled once, retried after Retry-After
    assert (pd.last_status_code, pd.last_error) == (None, "")  # the 429 was cleared when it went out
    assert Notification.objects.get(incident=incident, channel="statuspage").attempts == 2  # 503 once
    (throttled, accepted) = [r for r in vendors.pagerduty.requests]
    assert throttled["json"] == accepted["json"] and accepted["at"] - throttled["at"] >= 1.0
    (sp,) = vendors.statuspage.incidents.values()
    assert sp["name"] == f"[{incident.public_id}] Database Outage" and sp["status"] == "investigating"
    # escalation level 1 (0 minutes) was paged by the worker too, and is on the timeline
    wait_for(lambda: incident.timeline.filter(kind="paged").exists(), timeout=30, message="the level-1 page")


def test_sigkill_while_paging_pagerduty_sends_one_trigger_per_dedup_key(worker, vendors, users, settings):
    for name in ("SLACK_WEBHOOK", "SLACK_WEBHOOK_CRITICAL", "SLACK_WEBHOOK_WARNING", "STATUSPAGE_API_KEY"):
        setattr(settings, name, "")
        vendors.env[name] = ""
    first = worker(**vendors.env)
    vendors.pagerduty.hold_next()
    incident = services.incident_declare(severity="P1", title="Auth down", actor=users["commander"])
    assert vendors.pagerduty.held.wait(30), "the worker never sent the trigger"
    first.kill()  # SIGKILL with the trigger on the wire
    vendors.pagerduty.release.set()  # PagerDuty still processes what it received
    row = Notification.objects.get(incident=incident, channel="pagerduty")
    assert row.status == "sending" and row.in_flight
    worker(name="w2", beat=True, **vendors.env, **SWEEP)  # the sweeper re-dispatches once the lease expires
    wait_for(lambda: Notification.objects.get(id=row.id).status == "sent", timeout=40, message="the re-send")
    key = f"pitchey-incidents/{incident.public_id}"
    triggers = [e for e in vendors.pagerduty.events() if e["event_action"] == "trigger"]
    assert [e["dedup_key"] for e in triggers] == [key, key]  # re-sent, with the same key
    assert vendors.pagerduty.opened == {key: 1}  # so PagerDuty opened one alert
    assert Notification.objects.get(id=row.id).attempts == 2


def test_sigkill_while_posting_to_slack_posts_one_message(worker, vendors, users, settings):
    for name in ("PAGERDUTY_ROUTING_KEY", "STATUSPAGE_API_KEY", "OUTGOING_WEBHOOK_URL", "SLACK_WEBHOOK_WARNING"):
        setattr(settings, name, "")
        vendors.env[name] = ""
    first = worker(**vendors.env)
    vendors.slack.hold_next()
    incident = services.incident_declare(severity="P3", title="Typo on the pricing page", actor=users["commander"])
    assert vendors.slack.held.wait(30), "the worker never posted"
    first.kill()
    vendors.slack.release.set()
    worker(name="w2", beat=True, **vendors.env, **SWEEP)
    wait_for(
        lambda: "sending" not in statuses(incident).values() and "pending" not in statuses(incident).values(),
        timeout=40,
        message="the lost row to be settled",
    )
    assert statuses(incident) == {"slack:incidents": "unconfirmed"}
    assert len(vendors.slack.messages("incidents")) == 1  # Slack has exactly one message
    entry = incident.timeline.get(kind="notification_unconfirmed")
    assert "not re-sent" in entry.message


def test_broker_down_at_declaration_the_command_pages_itself_and_nothing_is_sent_twice(
    worker, vendors, users, settings
):
    """The broker is down: one fast check decides, and the command sends the pages itself instead of
    leaving them in a queue nobody reads. A worker started afterwards finds nothing left to send."""
    for name in ("STATUSPAGE_API_KEY", "OUTGOING_WEBHOOK_URL"):
        setattr(settings, name, "")
        vendors.env[name] = ""
    dead_broker = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    proc = subprocess.run(
        [sys.executable, "manage.py", "incident", "start", "P0", "Database Outage", "Primary database not responding"],
        cwd=ROOT,
        env=child_env(CELERY_BROKER_URL=dead_broker, **vendors.env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "broker unreachable" in proc.stderr and "Traceback" not in proc.stderr
    incident = Incident.objects.get()
    assert set(statuses(incident).values()) == {"sent"}  # before any worker exists
    key = f"pitchey-incidents/{incident.public_id}"
    assert vendors.pagerduty.opened == {key: 1}
    worker(beat=True, **vendors.env, **SWEEP)
    wait_for(lambda: incident.timeline.filter(kind="paged").exists(), timeout=30, message="the level-1 page")
    assert vendors.pagerduty.opened == {key: 1}
    declared = [m for m in vendors.slack.messages("critical") if m["text"].startswith("🚨 INCIDENT DECLARED")]
    assert len(declared) == 1

"""Each channel against a local server that behaves as the vendor's spec says: the exact request,
and what 429 + Retry-After, 5xx and 400 do to the outbox row."""

from __future__ import annotations

import hashlib
import hmac
import threading
from datetime import datetime, timedelta

import pytest
from django.core import mail
from django.db import connection

from incidents.comms.models import CommunicationDue, Notification
from incidents.comms.services import notification_deliver, notification_enqueue
from incidents.lifecycle import services
from incidents.lifecycle.models import Incident
from recovery.models import Service

pytestmark = pytest.mark.django_db


def deliver_all(incident: Incident | None = None) -> list[str]:
    """Deliver every due row once, in order, here in the test process (the worker does the same)."""
    rows = Notification.objects.filter(status="pending").order_by("id")
    if incident is not None:
        rows = rows.filter(incident=incident)
    return [notification_deliver(notification_id=n.id) for n in rows]


def declare_p0(users, **kw) -> Incident:
    Service.objects.filter(slug="database").update(statuspage_component_id="cmp-db")
    return services.incident_declare(
        severity="P0",
        title="Database Outage",
        description="Primary database not responding",
        services=["database", "api"],
        actor=users["commander"],
        **kw,
    )


def test_p0_declaration_reaches_every_channel_with_the_exact_request(vendors, users, settings):
    settings.CUSTOMER_EMAILS = ["a@customer.example", "b@customer.example"]
    incident = declare_p0(users)
    rows = {(n.channel, n.target) for n in Notification.objects.filter(incident=incident)}
    assert rows == {
        ("slack", "critical"),
        ("slack", "incidents"),
        ("pagerduty", ""),
        ("statuspage", ""),
        ("email", ""),
        ("webhook", ""),
    }
    assert set(deliver_all(incident)) == {"sent"}

    _assert_pagerduty_trigger(vendors, incident)
    _assert_slack_messages(vendors, incident)
    _assert_statuspage_incident(vendors, incident)
    _assert_customer_email()
    _assert_signed_webhook(vendors, incident)
    _assert_communications_done(incident)


def _assert_pagerduty_trigger(vendors, incident):
    (event,) = vendors.pagerduty.events()
    assert event == {
        "routing_key": "R0UT1NGKEY0123456789012345678901",
        "event_action": "trigger",
        "dedup_key": f"pitchey-incidents/{incident.public_id}",
        "payload": {
            "summary": f"[{incident.public_id}] P0 Database Outage",
            "source": "localhost:8000",
            "severity": "critical",
            "timestamp": incident.declared_at.isoformat(),
            "component": "database,api",
            "group": "pitchey-incidents",
            "class": "incident",
            "custom_details": {
                "incident": incident.public_id,
                "status": "triggered",
                "services": ["Database", "API Gateway"],
                "commander": None,
                "escalation_level": None,
            },
        },
        "links": [
            {
                "href": f"http://localhost:8000/incidents/{incident.public_id}/",
                "text": f"{incident.public_id} on Pitchey Incidents",
            }
        ],
        "client": "Pitchey Incidents",
        "client_url": f"http://localhost:8000/incidents/{incident.public_id}/",
    }
    assert vendors.pagerduty.opened == {f"pitchey-incidents/{incident.public_id}": 1}


def _assert_slack_messages(vendors, incident):
    text = (
        f"🚨 INCIDENT DECLARED: {incident.public_id}\nSeverity: P0\nTitle: Database Outage\n"
        "Impact: Primary database not responding\nStatus: Investigating\nCommander: unassigned\n"
        f"Channel: #incident-{incident.public_id.lower()}"
    )
    expected_slack = {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"Incident page: <http://localhost:8000/incidents/{incident.public_id}/|{incident.public_id}>",
                    }
                ],
            },
        ],
    }
    assert vendors.slack.messages("critical") == [expected_slack]
    assert vendors.slack.messages("incidents") == [expected_slack]
    assert vendors.slack.messages("warning") == []


def _assert_statuspage_incident(vendors, incident):
    (create,) = vendors.statuspage.posts()
    assert create["method"] == "POST" and create["path"] == "/pages/page123/incidents"
    assert create["headers"]["Authorization"] == "OAuth sp-key"
    assert create["json"] == {
        "incident": {
            "name": f"[{incident.public_id}] Database Outage",
            "status": "investigating",
            "body": "We are investigating an issue affecting Database, API Gateway. Affected services: Database, "
            "API Gateway. Next update within 30 minutes.",
            "component_ids": ["cmp-db"],
            "components": {"cmp-db": "major_outage"},
            "deliver_notifications": True,
            "impact_override": "critical",
        }
    }
    assert Notification.objects.get(incident=incident, channel="statuspage").response == {"id": "sp1"}


def _assert_customer_email():
    (email,) = mail.outbox
    assert email.subject == "Pitchey Platform - Service Status Update"
    assert email.bcc == ["a@customer.example", "b@customer.example"] and email.to == ["incidents@localhost"]
    assert email.body.startswith(
        "We are currently experiencing an issue affecting Database, API Gateway. Our team is actively working"
    )
    assert (
        "Current Status: Investigating\nAffected Services: Database, API Gateway\nNext Update: Within 30 minutes"
        in (email.body)
    )
    assert "Updates available at: http://localhost:8000/status/" in email.body
    assert "Primary database not responding" not in email.body  # the internal description stays inside


def _assert_signed_webhook(vendors, incident):
    (hook,) = vendors.receiver.posts()
    headers = hook["headers"]
    expected_sig = hmac.new(
        b"whsec-test", headers["X-Pitchey-Timestamp"].encode() + b"." + hook["raw"], hashlib.sha256
    ).hexdigest()
    assert headers["X-Pitchey-Signature"] == f"sha256={expected_sig}"
    assert hook["json"]["event"] == "declared" and hook["json"]["incident"]["id"] == incident.public_id
    assert headers["X-Pitchey-Delivery"] == str(hook["json"]["delivery"])


def _assert_communications_done(incident):
    sent = dict(CommunicationDue.objects.filter(incident=incident).values_list("audience", "sent_via"))
    assert sent == {
        "internal": "slack:critical",
        "status_page": "statuspage",
        "customer_email": "email",
        "external": "",
    }
    kinds = list(incident.timeline.values_list("kind", flat=True))
    assert kinds.count("notification_sent") == 6


def test_acknowledge_update_and_resolve_follow_the_same_pagerduty_and_statuspage_incident(vendors, users):
    incident = declare_p0(users)
    deliver_all(incident)
    services.incident_acknowledge(incident=incident, actor=users["responder"])
    services.incident_post_update(
        incident=incident, public_status="identified", message="Failover in progress", actor=users["commander"]
    )
    services.incident_resolve(incident=incident, resolution="Failed over to the replica", actor=users["commander"])
    assert set(deliver_all(incident)) == {"sent"}
    key = f"pitchey-incidents/{incident.public_id}"
    assert vendors.pagerduty.events()[1:] == [
        {"routing_key": "R0UT1NGKEY0123456789012345678901", "event_action": "acknowledge", "dedup_key": key},
        {"routing_key": "R0UT1NGKEY0123456789012345678901", "event_action": "resolve", "dedup_key": key},
    ]
    assert vendors.pagerduty.alerts == {key: "resolved"}
    patches = [r for r in vendors.statuspage.posts() if r["method"] == "PATCH"]
    assert [p["path"] for p in patches] == ["/pages/page123/incidents/sp1"] * 2
    assert patches[0]["json"]["incident"]["status"] == "identified"
    assert patches[0]["json"]["incident"]["body"] == "Failover in progress"
    assert patches[1]["json"]["incident"] == {
        "name": f"[{incident.public_id}] Database Outage",
        "status": "resolved",
        "body": "This incident has been resolved.",
        "component_ids": ["cmp-db"],
        "components": {"cmp-db": "operational"},
        "deliver_notifications": True,
    }
    resolution = vendors.slack.messages("critical")[-1]["text"]
    assert resolution.startswith(f"✅ RESOLVED: {incident.public_id} (P0) Database Outage\nResolution: Failed over")
    assert CommunicationDue.objects.get(incident=incident, audience="external").sent_via == "public update"


def test_slack_routing_per_severity_and_fallback(vendors, users, settings):
    incident = services.incident_declare(severity="P2", title="Slow search", actor=users["commander"])
    assert sorted(Notification.objects.filter(incident=incident, channel="slack").values_list("target", flat=True)) == [
        "incidents",
        "warning",
    ]
    settings.SLACK_WEBHOOK_CRITICAL = settings.SLACK_WEBHOOK_WARNING = ""
    incident = services.incident_declare(severity="P0", title="Down", actor=users["commander"])
    assert list(Notification.objects.filter(incident=incident, channel="slack").values_list("target", flat=True)) == [
        "incidents"
    ]
    deliver_all(incident)
    assert len(vendors.slack.messages("incidents")) == 1


def test_429_with_retry_after_is_retried_no_sooner_than_asked(vendors, users, clock):
    incident = services.incident_declare(severity="P1", title="Auth errors", actor=users["commander"])
    vendors.pagerduty.fail_next(429, '{"status":"throttled"}', {"Retry-After": "30"})
    row = Notification.objects.get(incident=incident, channel="pagerduty")
    before = clock.now
    assert notification_deliver(notification_id=row.id) == "retry"
    row.refresh_from_db()
    assert row.status == "pending" and row.attempts == 1 and row.last_status_code == 429
    assert row.next_attempt_at >= before + timedelta(seconds=30)
    assert notification_deliver(notification_id=row.id) == "early"  # not before Retry-After
    clock.set(row.next_attempt_at)
    assert notification_deliver(notification_id=row.id) == "sent"
    assert len(vendors.pagerduty.events()) == 2


def test_statuspage_420_and_5xx_back_off_then_give_up(vendors, users, settings, clock):
    settings.NOTIFICATION_MAX_ATTEMPTS = 3
    incident = declare_p0(users)
    row = Notification.objects.get(incident=incident, channel="statuspage")
    vendors.statuspage.fail_next(420, "Enhance your calm")
    vendors.statuspage.fail_next(503, "unavailable", times=2)
    outcomes = []
    for _ in range(3):
        outcomes.append(notification_deliver(notification_id=row.id))
        Notification.objects.filter(id=row.id).update(next_attempt_at=clock.now)
    assert outcomes == ["retry", "retry", "failed"]
    row.refresh_from_db()
    assert row.status == "failed" and row.attempts == 3 and row.last_status_code == 503
    entry = incident.timeline.get(kind="notification_failed")
    assert "after 3 attempts" in entry.message and "HTTP 503" in entry.message


@pytest.mark.parametrize(
    "status,body", [(400, "invalid_payload"), (404, "channel_not_found"), (410, "channel_is_archived")]
)
def test_slack_400_404_410_fail_permanently_and_show_on_the_incident_page(vendors, users, client, status, body):
    incident = services.incident_declare(severity="P2", title="Cache misses", actor=users["commander"])
    vendors.slack.fail_next(status, body)
    row = Notification.objects.filter(incident=incident, channel="slack").order_by("id").first()
    assert notification_deliver(notification_id=row.id) == "failed"
    row.refresh_from_db()
    assert row.status == "failed" and row.attempts == 1 and row.last_status_code == status
    assert incident.timeline.filter(kind="notification_failed", message__contains=f"HTTP {status}").exists()
    assert "secret" not in row.last_error  # webhook URLs are secrets: never in errors or pages
    client.force_login(users["viewer"])
    page = client.get(incident.get_absolute_url()).content.decode()
    assert f"slack:{row.target} declared: Failed</b> (HTTP {status})" in page
    assert "secret" not in page


@pytest.mark.django_db(transaction=True)
def test_a_claimed_row_is_not_sent_by_a_second_worker(vendors, users):
    incident = services.incident_declare(severity="P3", title="Typo", actor=users["commander"])
    row = Notification.objects.filter(incident=incident, channel="slack").first()
    vendors.slack.hold_next()

    def first_worker():

        try:
            notification_deliver(notification_id=row.id)
        finally:
            connection.close()  # this thread's own connection

    first = threading.Thread(target=first_worker)
    first.start()
    assert vendors.slack.held.wait(10)
    assert notification_deliver(notification_id=row.id) == "busy"  # a second worker, same row
    vendors.slack.release.set()
    first.join(10)
    assert notification_deliver(notification_id=row.id) == "done"
    assert len(vendors.slack.messages()) == 1


def test_enqueue_an_arbitrary_message(vendors, users):
    incident = services.incident_declare(severity="P3", title="Docs", actor=users["commander"])
    Notification.objects.all().delete()
    rows = notification_enqueue(
        incident=incident, channel="slack", kind="postmortem_reminder", context={"message": "Post-mortem due today"}
    )
    assert [r.target for r in rows] == ["warning", "incidents"]
    deliver_all()
    assert vendors.slack.messages("warning")[0]["text"] == f"[{incident.public_id}] Post-mortem due today"
    assert notification_enqueue(incident=None, channel="webhook", kind="digest", context={"message": "hi"})
    deliver_all()
    assert vendors.receiver.posts()[-1]["json"]["message"] == "hi"
    with pytest.raises(Exception, match="must be one of"):
        notification_enqueue(incident=incident, channel="carrier-pigeon", kind="x")


def _lose_in_flight(row: Notification, now: datetime) -> None:
    """As a worker SIGKILLed mid-request leaves a row: sending, on the wire, lease expired."""
    Notification.objects.filter(id=row.id).update(
        status="sending", in_flight=True, attempts=1, lease_until=now - timedelta(seconds=1)
    )


def test_a_lost_statuspage_create_is_found_again_instead_of_created_twice(vendors, users, clock):
    incident = declare_p0(users)
    row = Notification.objects.get(incident=incident, channel="statuspage")
    assert notification_deliver(notification_id=row.id) == "sent"  # the vendor has it…
    _lose_in_flight(row, clock.now)  # …but our worker died before recording it
    Notification.objects.filter(id=row.id).update(response={})
    assert notification_deliver(notification_id=row.id) == "reconciled"
    assert len([r for r in vendors.statuspage.posts() if r["method"] == "POST"]) == 1
    assert Notification.objects.get(id=row.id).response == {"id": "sp1"}

    other = services.incident_declare(severity="P1", title="Auth down", actor=users["commander"])
    lost = Notification.objects.get(incident=other, channel="statuspage")
    _lose_in_flight(lost, clock.now)  # died before Statuspage got it: found nowhere, so sent again
    assert notification_deliver(notification_id=lost.id) == "sent"
    assert Notification.objects.get(id=lost.id).attempts == 2


def test_a_lost_slack_post_is_unconfirmed_not_repeated_but_one_lost_before_sending_is_sent(vendors, users, clock):
    incident = services.incident_declare(severity="P3", title="Typo", actor=users["commander"])
    on_wire, before_wire = Notification.objects.filter(incident=incident, channel="slack").order_by("id")
    _lose_in_flight(on_wire, clock.now)
    Notification.objects.filter(id=before_wire.id).update(
        status="sending", in_flight=False, attempts=1, lease_until=clock.now - timedelta(seconds=1)
    )
    assert notification_deliver(notification_id=on_wire.id) == "unconfirmed"
    assert notification_deliver(notification_id=before_wire.id) == "sent"
    assert len(vendors.slack.messages()) == 1 and vendors.slack.posts()[0]["path"].endswith(before_wire.target)
    assert incident.timeline.filter(kind="notification_unconfirmed").count() == 1


def test_slack_200_that_is_not_ok_is_logged_and_not_sent_again(vendors, users, clock, caplog):
    incident = services.incident_declare(severity="P2", title="Cache misses", actor=users["commander"])
    vendors.slack.fail_next(200, "queued_for_later")
    row = Notification.objects.filter(incident=incident, channel="slack").order_by("id").first()
    with caplog.at_level("WARNING", logger="incidents.comms.channels.slack"):
        assert notification_deliver(notification_id=row.id) == "sent"
    row.refresh_from_db()
    assert row.status == "sent" and row.attempts == 1 and row.response == {"answer": "queued_for_later"}
    assert [r.getMessage() for r in caplog.records] == [
        f"Slack {row.target} answered 200 with 'queued_for_later' instead of ok"
    ]
    clock.advance(hours=1)
    assert notification_deliver(notification_id=row.id) != "sent"  # nothing left to send
    assert len(vendors.slack.posts("/services/")) == 1


def test_a_delivery_that_succeeds_clears_the_error_of_an_earlier_attempt(vendors, users, clock):
    incident = services.incident_declare(severity="P2", title="Cache misses", actor=users["commander"])
    vendors.slack.fail_next(429, "rate_limited", {"Retry-After": "1"})
    row = Notification.objects.filter(incident=incident, channel="slack").order_by("id").first()
    assert notification_deliver(notification_id=row.id) == "retry"
    row.refresh_from_db()
    assert (row.last_status_code, row.status) == (429, "pending") and "rate_limited" in row.last_error
    clock.set(row.next_attempt_at)
    assert notification_deliver(notification_id=row.id) == "sent"
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_status_code, row.last_error) == ("sent", 2, None, "")

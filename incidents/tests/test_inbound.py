"""Slack buttons and PagerDuty v3 webhooks drive incidents here, through the normal services, once
verified exactly as Slack and PagerDuty sign them; anything else is refused and changes nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from urllib.parse import urlencode

import pytest
from django.test import Client

from incidents.comms import people
from incidents.comms.channels.pagerduty import dedup_key
from incidents.comms.models import Notification
from incidents.comms.services import notification_deliver
from incidents.lifecycle import services

SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
PD_SECRET = "ChTmXdPuFvWbq0aRu6Ap1K9hM3yDz7aUrS1DYgcyCf2Z5lKq9pOmT4mF6oYcHH1W"


@pytest.fixture
def slack_app(settings, vendors):
    settings.SLACK_SIGNING_SECRET = SLACK_SECRET
    settings.SLACK_RESPONSE_URL_PREFIX = vendors.slack.url + "/actions/"
    return vendors.slack


def slack_post(payload: dict, *, secret: str = SLACK_SECRET, age_s: float = 0, signature: str | None = None):
    body = urlencode({"payload": json.dumps(payload)})
    ts = str(int(time.time() - age_s))
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return Client().post(
        "/integrations/slack/interactivity",
        data=body,
        content_type="application/x-www-form-urlencoded",
        HTTP_X_SLACK_REQUEST_TIMESTAMP=ts,
        HTTP_X_SLACK_SIGNATURE=signature or f"v0={digest}",
    )


def press(action: str, incident, slack_user: str, response_url: str) -> dict:
    return {
        "type": "block_actions",
        "user": {"id": slack_user, "username": "someone", "team_id": "T0001"},
        "team": {"id": "T0001", "domain": "pitchey"},
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": action,
                "block_id": f"incident-{incident.public_id}",
                "value": incident.public_id,
                "action_ts": str(time.time()),
            }
        ],
    }


def link_slack(user, slack_id: str):
    method = people.contact_method_add(user=user, kind="slack", address=slack_id)
    people.contact_method_send_code(method)  # a mention in the critical channel, with the code
    method.refresh_from_db()
    return people.contact_method_verify(method, method.verification_code)


@pytest.mark.django_db
def test_slack_messages_carry_buttons_and_a_press_acknowledges_and_updates_the_message(users, slack_app):
    link_slack(users["responder"], "U0RESP")
    incident = services.incident_declare(severity="P1", title="Checkout errors", actor=users["commander"])
    row = Notification.objects.filter(incident=incident, channel="slack", kind="declared").first()
    notification_deliver(notification_id=row.id)
    message = slack_app.messages("critical")[-1]
    (actions,) = [b for b in message["blocks"] if b["type"] == "actions"]
    assert [e["action_id"] for e in actions["elements"]] == ["acknowledge", "escalate", "resolve", "open"]
    response_url = f"{slack_app.url}/actions/T0001/1234/abcd"
    response = slack_post(press("acknowledge", incident, "U0RESP", response_url))
    assert response.status_code == 200
    incident.refresh_from_db()
    assert incident.status == "acknowledged"
    assert incident.timeline.filter(kind="acknowledged", actor="responder").exists()
    (update,) = [r["json"] for r in slack_app.posts("/actions/")]
    assert update["replace_original"] is True and "acknowledged by responder" in update["text"]
    # The person's role is enforced: a responder may not resolve.
    refused = slack_post(press("resolve", incident, "U0RESP", response_url))
    assert refused.status_code == 403
    incident.refresh_from_db()
    assert incident.status == "acknowledged"


@pytest.mark.django_db
def test_slack_requests_that_are_not_slacks_are_refused_and_change_nothing(users, slack_app, caplog):
    link_slack(users["commander"], "U0CMD")
    incident = services.incident_declare(severity="P1", title="Checkout errors", actor=users["commander"])
    url = f"{slack_app.url}/actions/T0001/1/x"
    caplog.set_level(logging.WARNING)
    cases = [
        (slack_post(press("resolve", incident, "U0CMD", url), secret="not-the-secret"), 401),
        (slack_post(press("resolve", incident, "U0CMD", url), age_s=6 * 60), 401),
        (slack_post(press("resolve", incident, "U0CMD", url), signature="v0=" + "0" * 64), 401),
        (slack_post(press("resolve", incident, "U0NOBODY", url)), 403),
    ]
    assert [r.status_code for r, _ in cases] == [status for _, status in cases]
    unverified = people.contact_method_add(user=users["admin"], kind="slack", address="U0ADMIN")
    assert unverified.verified_at is None
    assert slack_post(press("resolve", incident, "U0ADMIN", url)).status_code == 403  # not verified: not linked
    incident.refresh_from_db()
    assert incident.status == "triggered" and not slack_app.posts("/actions/")
    assert SLACK_SECRET not in caplog.text and "v0=" not in caplog.text


def pd_event(event_type: str, incident, *, agent: str = "Ada Lovelace") -> bytes:
    """A v3 webhook as PagerDuty sends it (developer.pagerduty.com, "V3 Webhooks")."""
    return json.dumps(
        {
            "event": {
                "id": "01DEN3QUFHJ8V5HW6UPVC2BX3X",
                "event_type": event_type,
                "resource_type": "incident",
                "occurred_at": "2026-12-02T11:40:22.169Z",
                "agent": {
                    "html_url": "https://acme.pagerduty.com/users/PLH1HKV",
                    "id": "PLH1HKV",
                    "self": "https://api.pagerduty.com/users/PLH1HKV",
                    "summary": agent,
                    "type": "user_reference",
                },
                "client": None,
                "data": {
                    "id": "PGR0VU2",
                    "type": "incident",
                    "self": "https://api.pagerduty.com/incidents/PGR0VU2",
                    "html_url": "https://acme.pagerduty.com/incidents/PGR0VU2",
                    "number": 2,
                    "status": event_type.split(".")[1],
                    "incident_key": dedup_key(incident.public_id),
                    "created_at": "2026-12-02T11:39:22Z",
                    "title": f"[{incident.public_id}] {incident.title}",
                    "urgency": "high",
                },
            }
        }
    ).encode()


def pd_post(body: bytes, *signing_secrets: str):
    signatures = ",".join("v1=" + hmac.new(s.encode(), body, hashlib.sha256).hexdigest() for s in signing_secrets)
    return Client().post(
        "/integrations/pagerduty/webhook",
        data=body,
        content_type="application/json",
        HTTP_X_PAGERDUTY_SIGNATURE=signatures,
        HTTP_USER_AGENT="PagerDuty-Webhook/V3.0",
    )


@pytest.mark.django_db
def test_acknowledging_and_resolving_in_pagerduty_does_it_here_without_an_echo(users, vendors, settings, caplog):
    settings.PAGERDUTY_WEBHOOK_SECRET = PD_SECRET
    incident = services.incident_declare(severity="P0", title="Database Outage", actor=users["commander"])
    triggered = Notification.objects.filter(incident=incident, channel="pagerduty").count()
    # Two signatures, as during a secret rotation: one of them is ours.
    response = pd_post(pd_event("incident.acknowledged", incident), "an-old-secret", PD_SECRET)
    assert response.status_code == 200
    incident.refresh_from_db()
    assert incident.status == "acknowledged"
    assert incident.timeline.filter(kind="acknowledged", actor="PagerDuty (Ada Lovelace)").exists()
    # No acknowledge event goes back to PagerDuty: it came from there.
    assert Notification.objects.filter(incident=incident, channel="pagerduty").count() == triggered
    again = pd_post(pd_event("incident.acknowledged", incident), PD_SECRET)  # a redelivery, or our own echo
    assert again.status_code == 200 and "unchanged" in again.json()
    assert incident.timeline.filter(kind="acknowledged").count() == 1
    assert pd_post(pd_event("incident.resolved", incident), PD_SECRET).status_code == 200
    incident.refresh_from_db()
    assert incident.status == "resolved"
    assert Notification.objects.filter(incident=incident, channel="pagerduty", kind="resolved").count() == 0
    # Our own resolve, once it reaches PagerDuty, comes back as a webhook: nothing changes here.
    assert "unchanged" in pd_post(pd_event("incident.resolved", incident), PD_SECRET).json()


@pytest.mark.django_db
def test_pagerduty_webhooks_with_a_bad_signature_are_refused_and_change_nothing(users, settings, caplog):
    settings.PAGERDUTY_WEBHOOK_SECRET = PD_SECRET
    incident = services.incident_declare(severity="P0", title="Database Outage", actor=users["commander"])
    body = pd_event("incident.resolved", incident)
    caplog.set_level(logging.WARNING)
    assert pd_post(body, "wrong-secret").status_code == 401
    assert pd_post(body).status_code == 401  # no signature at all
    tampered = body.replace(b"Ada Lovelace", b"Mallory")
    signature = "v1=" + hmac.new(PD_SECRET.encode(), body, hashlib.sha256).hexdigest()
    response = Client().post(
        "/integrations/pagerduty/webhook",
        data=tampered,
        content_type="application/json",
        HTTP_X_PAGERDUTY_SIGNATURE=signature,
    )
    assert response.status_code == 401
    incident.refresh_from_db()
    assert incident.status == "triggered"
    assert PD_SECRET not in caplog.text and "v1=" not in caplog.text
    other = json.loads(pd_event("incident.acknowledged", incident))
    other["event"]["data"]["incident_key"] = "someone-elses-key"
    body = json.dumps(other).encode()
    assert pd_post(body, PD_SECRET).json() == {"ignored": "not one of our incidents"}

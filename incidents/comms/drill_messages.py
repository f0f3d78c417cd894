"""The communication drill's sender (``recovery.hooks.send_test_message``): one marked test message
through every channel we page or tell people with, each of which must be accepted by its receiver.

- Slack: every configured route (incidents, critical, warning); accepted when Slack answers ``ok``.
- PagerDuty: a trigger with a dedup key of its own (never an incident's), resolved at once; both 202.
- Statuspage: only on a test page (``DRILL_STATUSPAGE_PAGE_ID``) or a test component
  (``DRILL_STATUSPAGE_COMPONENT_ID``), created resolved-at-once without notifying subscribers.
- Email: to the drill address (``DRILL_EMAIL``); accepted when the mail server takes it.
- Webhook: a signed ``drill`` delivery; accepted on a 2xx.

A channel that is not configured is named in ``missing`` with what to set.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.mail import EmailMessage

from pitchey_incidents.http import TransportError, request
from recovery import hooks

from .channels.pagerduty import dedup_key
from .channels.slack import Slack
from .channels.webhook import sign

MARK = "[DR drill]"


def _slack(text: str) -> list[tuple[str, bool, str]]:
    results = []
    for route, url in Slack.routes().items():
        resp = request("POST", url, json={"text": f"{MARK} {text}"}, ok=(200,))
        accepted = resp.text.strip() == "ok"
        results.append((f"slack:{route}", accepted, "" if accepted else f"Slack answered {resp.text[:80]!r}"))
    return results


def _pagerduty(text: str) -> list[tuple[str, bool, str]]:
    key = dedup_key(f"drill-{uuid.uuid4().hex[:12]}")
    url = f"{settings.PAGERDUTY_EVENTS_URL}/v2/enqueue"
    base = {"routing_key": settings.PAGERDUTY_ROUTING_KEY, "dedup_key": key}
    payload = {"summary": f"{MARK} {text}"[:1024], "source": "pitchey-incidents", "severity": "info"}
    request("POST", url, json=base | {"event_action": "trigger", "payload": payload}, ok=(202,))
    request("POST", url, json=base | {"event_action": "resolve"}, ok=(202,))
    return [("pagerduty", True, f"triggered and resolved {key}")]


def _statuspage(text: str) -> list[tuple[str, bool, str]]:
    page = settings.DRILL_STATUSPAGE_PAGE_ID or settings.STATUSPAGE_PAGE_ID
    component = settings.DRILL_STATUSPAGE_COMPONENT_ID
    incident = {
        "name": f"{MARK} {text}"[:200],
        "status": "investigating",
        "body": "A disaster-recovery drill checks that updates reach this page; no action needed.",
        "deliver_notifications": False,
        "component_ids": [component] if component else [],
    }
    headers = {"Authorization": f"OAuth {settings.STATUSPAGE_API_KEY}"}
    base = f"{settings.STATUSPAGE_API_URL}/pages/{page}/incidents"
    created = request("POST", base, json={"incident": incident}, headers=headers).json or {}
    if not created.get("id"):
        return [("statuspage", False, "Statuspage gave no incident id")]
    resolved = {"status": "resolved", "deliver_notifications": False}
    request("PATCH", f"{base}/{created['id']}", json={"incident": resolved}, headers=headers)
    return [("statuspage", True, f"test incident {created['id']} created and resolved")]


def _email(text: str) -> list[tuple[str, bool, str]]:
    message = EmailMessage(
        subject=f"{MARK} test message",
        body=f"{text}\n\nA disaster-recovery drill checks that email reaches this address; no action needed.",
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[settings.DRILL_EMAIL],
    )
    accepted = message.send(fail_silently=False) == 1
    return [("email", accepted, "" if accepted else "the mail server took nothing")]


def _webhook(text: str) -> list[tuple[str, bool, str]]:
    document = {"delivery": f"drill-{uuid.uuid4().hex[:12]}", "event": "drill", "message": f"{MARK} {text}"}
    body = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Pitchey-Delivery": document["delivery"],
        "X-Pitchey-Timestamp": timestamp,
        "X-Pitchey-Signature": sign(settings.OUTGOING_WEBHOOK_SECRET, timestamp, body),
    }
    request("POST", settings.OUTGOING_WEBHOOK_URL, data=body, headers=headers)
    return [("webhook", True, "")]


def _channels() -> list[tuple[str, bool, str, Callable[[str], list[tuple[str, bool, str]]]]]:
    """(name, configured, what to set, sender) for every channel the drill must reach."""
    statuspage = bool(settings.STATUSPAGE_API_KEY) and bool(
        settings.DRILL_STATUSPAGE_PAGE_ID or (settings.STATUSPAGE_PAGE_ID and settings.DRILL_STATUSPAGE_COMPONENT_ID)
    )
    return [
        ("Slack", bool(Slack.routes()), "set SLACK_WEBHOOK (and SLACK_WEBHOOK_CRITICAL, _WARNING)", _slack),
        ("PagerDuty", bool(settings.PAGERDUTY_ROUTING_KEY), "set PAGERDUTY_ROUTING_KEY", _pagerduty),
        (
            "Statuspage test page or component",
            statuspage,
            "set STATUSPAGE_API_KEY and DRILL_STATUSPAGE_PAGE_ID (a test page), or DRILL_STATUSPAGE_COMPONENT_ID",
            _statuspage,
        ),
        ("Email to the drill address", bool(settings.DRILL_EMAIL), "set DRILL_EMAIL (and EMAIL_URL)", _email),
        (
            "Webhook",
            bool(settings.OUTGOING_WEBHOOK_URL and settings.OUTGOING_WEBHOOK_SECRET),
            "set OUTGOING_WEBHOOK_URL and OUTGOING_WEBHOOK_SECRET",
            _webhook,
        ),
    ]


def send_test_message(text: str) -> dict:
    """{"sent": [channel], "failed": [{channel, error}], "missing": [{what, hint}]}."""
    sent, failed, missing = [], [], []
    for name, configured, hint, sender in _channels():
        if not configured:
            missing.append({"what": name, "hint": hint})
            continue
        try:
            results = sender(text)
        except (TransportError, OSError) as exc:
            message = exc.message if isinstance(exc, TransportError) else f"{exc.__class__.__name__}: {exc}"
            results = [(name.split()[0].lower(), False, message[:200])]
        for channel, accepted, detail in results:
            if accepted:
                sent.append(channel)
            else:
                failed.append({"channel": channel, "error": detail})
    return {"sent": sent, "failed": failed, "missing": missing}


def connect() -> None:
    hooks.register("send_test_message", send_test_message)

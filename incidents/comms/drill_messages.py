"""The communication drill's sender (``recovery.hooks.send_test_message``): one marked test message
through every channel we page or tell people with, each of which must be accepted by its receiver.

- Slack: every configured route (incidents, critical, warning); accepted when Slack answers ``ok``.
- PagerDuty: a trigger with a dedup key of its own (never an incident's), resolved at once; both 202.
- Statuspage: only on a test page (``DRILL_STATUSPAGE_PAGE_ID``) or a test component
  (``DRILL_STATUSPAGE_COMPONENT_ID``), created resolved-at-once without notifying subscribers.
- Email: to the drill address (``DRILL_EMAIL``); accepted when the mail server takes it.
- Webhook: a signed ``drill`` delivery; accepted on a 2xx.
- The person-level channels: every verified contact method of every active person (email, ntfy push,
  SMS gateway, Slack mention, personal webhook), through the same delivery functions pages use.

A channel that is not configured (or, for a person-level kind, that nobody has verified) is named in
``missing`` with what to set.
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

from . import people, selectors
from .channels.pagerduty import dedup_key
from .channels.slack import Slack
from .channels.webhook import sign
from .models import ContactKind, ContactMethod

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


def _person_prerequisite(kind: str) -> str:
    """What to set before any contact method of this kind can be reached ("" when nothing)."""
    if kind == ContactKind.SMS and not (settings.SMS_ACCOUNT_SID and settings.SMS_AUTH_TOKEN and settings.SMS_FROM):
        return "set SMS_ACCOUNT_SID, SMS_AUTH_TOKEN and SMS_FROM (and SMS_GATEWAY_URL)"
    if kind == ContactKind.SLACK and not (settings.SLACK_WEBHOOK_CRITICAL or settings.SLACK_WEBHOOK):
        return "set SLACK_WEBHOOK_CRITICAL (person mentions go to the critical channel)"
    return ""


def _people(text: str, sent: list, failed: list, missing: list) -> None:
    """The marked message through every verified contact method of every active person; a kind
    nobody can be reached by is named."""
    methods = ContactMethod.objects.filter(verified_at__isnull=False, failed_at__isnull=True, user__is_active=True)
    methods = list(methods.select_related("user").order_by("kind", "user__username", "id"))
    message = people.Message(
        subject=f"{MARK} test message",
        body=f"{text}\n\nA disaster-recovery drill checks that pages reach you here; no action needed.",
        priority="default",
    )
    for kind, label in ContactKind.choices:
        chosen = [m for m in methods if m.kind == kind]
        hint = _person_prerequisite(kind)
        if hint or not chosen:
            hint = hint or "nobody has a verified one: a person adds and verifies it on their profile"
            missing.append({"what": f"Person-level {label}", "hint": hint})
            continue
        for method in chosen:
            channel = f"person:{method.user.get_username()}:{kind}"
            try:
                people.deliver(method, message, f"drill-{uuid.uuid4().hex[:12]}")
            except TransportError as exc:
                failed.append({"channel": channel, "error": exc.message[:200]})
            else:
                sent.append(channel)


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
    _people(text, sent, failed, missing)
    return {"sent": sent, "failed": failed, "missing": missing}


def connect() -> None:
    hooks.register("send_test_message", send_test_message)
    hooks.register("automatic_status_updates", selectors.automatic_status_updates)  # the recovery checklist

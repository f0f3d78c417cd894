"""Paging people: their contact methods (verified by a code before use), their notification rules
per urgency, and one delivery function per kind of method (docs/communications.md).

A page to a person is an outbox row on the ``person`` channel (``channels/person.py``), one per
rule, due ``delay_s`` after the page; the outbox delivers, retries and records it like any other.
"""

from __future__ import annotations

import base64
import json
import secrets
import smtplib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from incidents.comms.models import (
    ContactKind,
    ContactMethod,
    Notification,
    NotificationRule,
    NotificationStatus,
    Urgency,
)
from pitchey_incidents.accounts import role_set
from pitchey_incidents.errors import DomainError
from pitchey_incidents.http import TransportError, request
from pitchey_incidents.roles import ROLES, has_role, role_of

# A new person, or one with no rules for an urgency, is paged by push and email at once.
DEFAULT_KINDS = (ContactKind.PUSH, ContactKind.EMAIL)
CODE_MAX_AGE = timedelta(hours=1)


@dataclass(frozen=True)
class Message:
    subject: str
    body: str
    url: str = ""
    priority: str = "high"  # ntfy: urgent / high / default
    actions: tuple[tuple[str, str], ...] = ()  # (label, url)


# --- delivery, one function per kind ----------------------------------------------------------------


def _send_email(method: ContactMethod, msg: Message, ref: str) -> dict:
    email = EmailMessage(
        subject=msg.subject,
        body=msg.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[method.address],
        headers={"Message-ID": f"<{ref}@{urlsplit(settings.SITE_URL).netloc or 'pitchey-incidents'}>"},
    )
    try:
        email.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused:
        raise TransportError("the mail server refused the address", permanent=True) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise TransportError(f"email: {exc.__class__.__name__}: {exc}"[:200]) from None
    return {}


def _send_push(method: ContactMethod, msg: Message, ref: str) -> dict:
    """ntfy's JSON publish API: ``POST <server>/`` with the topic in the body."""
    server = (method.server or settings.NTFY_DEFAULT_SERVER).rstrip("/")
    body: dict[str, Any] = {
        "topic": method.address,
        "title": msg.subject[:250],
        "message": msg.body[:3500],
        "priority": {"urgent": 5, "high": 4}.get(msg.priority, 3),
        "tags": ["rotating_light"] if msg.priority != "default" else [],
    }
    if msg.url:
        body["click"] = msg.url
    if msg.actions:
        body["actions"] = [{"action": "view", "label": label, "url": url} for label, url in msg.actions[:3]]
    headers = {"Authorization": f"Bearer {method.token}"} if method.token else {}
    resp = request("POST", server + "/", json=body, headers=headers, ok=(200,))
    return {"id": (resp.json or {}).get("id")}


def _send_sms(method: ContactMethod, msg: Message, ref: str) -> dict:
    """Twilio's Messages API (and gateways speaking it): form-encoded, HTTP basic auth, 201 + ``sid``."""
    sid, token = settings.SMS_ACCOUNT_SID, settings.SMS_AUTH_TOKEN
    if not (sid and token and settings.SMS_FROM):
        raise TransportError("SMS is not configured (SMS_ACCOUNT_SID, SMS_AUTH_TOKEN, SMS_FROM)", permanent=True)
    url = f"{settings.SMS_GATEWAY_URL.rstrip('/')}/2010-04-01/Accounts/{sid}/Messages.json"
    text = f"{msg.subject}\n{msg.url}" if msg.url else msg.subject
    form = urlencode({"To": method.address, "From": settings.SMS_FROM, "Body": text[:1500]}).encode()
    auth = base64.b64encode(f"{sid}:{token}".encode()).decode()
    headers = {"Authorization": f"Basic {auth}", "Content-Type": "application/x-www-form-urlencoded"}
    resp = request("POST", url, data=form, headers=headers, ok=(200, 201))
    return {"sid": (resp.json or {}).get("sid")}


def _send_slack(method: ContactMethod, msg: Message, ref: str) -> dict:
    """A mention in the critical Slack channel (incoming webhooks cannot message a person directly)."""
    url = settings.SLACK_WEBHOOK_CRITICAL or settings.SLACK_WEBHOOK
    if not url:
        raise TransportError("Slack is not configured (SLACK_WEBHOOK_CRITICAL)", permanent=True)
    text = f"<@{method.address}> {msg.subject}" + (f" <{msg.url}|Open>" if msg.url else "")
    resp = request("POST", url, json={"text": text}, ok=(200,))
    if resp.text.strip() != "ok":
        raise TransportError(f"Slack answered {resp.text[:100]!r}", status=resp.status)
    return {}


def _send_webhook(method: ContactMethod, msg: Message, ref: str) -> dict:
    document = {"delivery": ref, "subject": msg.subject, "body": msg.body, "url": msg.url}
    document["actions"] = {label.lower(): url for label, url in msg.actions}
    request("POST", method.address, data=json.dumps(document).encode(), headers={"Content-Type": "application/json"})
    return {}


SENDERS = {
    ContactKind.EMAIL: _send_email,
    ContactKind.PUSH: _send_push,
    ContactKind.SMS: _send_sms,
    ContactKind.SLACK: _send_slack,
    ContactKind.WEBHOOK: _send_webhook,
}


def deliver(method: ContactMethod, msg: Message, ref: str) -> dict:
    """Send one message through one method; ``TransportError`` says whether to retry."""
    return SENDERS[method.kind](method, msg, ref)


# --- contact methods: add, verify ------------------------------------------------------------------------


def _clean_address(kind: str, address: str, server: str) -> tuple[str, str]:
    address = (address or "").strip()
    if kind not in ContactKind.values:
        raise DomainError("unknown kind of contact method", field="kind")
    if not address or len(address) > 300:
        raise DomainError("required, at most 300 characters", field="address")
    if kind == ContactKind.EMAIL:
        try:
            validate_email(address)
        except ValidationError:
            raise DomainError("not an email address", field="address") from None
    elif kind == ContactKind.SMS:
        digits = address.replace(" ", "")
        if not (digits.startswith("+") and digits[1:].isdigit() and 8 <= len(digits) <= 16):
            raise DomainError("a phone number in international form, like +447700900123", field="address")
        address = digits
    elif kind == ContactKind.SLACK:
        if not (address.isalnum() and address[:1] in "UW" and address.upper() == address):
            raise DomainError("a Slack member ID, like U012AB3CD", field="address")
    elif kind == ContactKind.WEBHOOK:
        if urlsplit(address).scheme not in ("http", "https"):
            raise DomainError("an http(s) URL", field="address")
    elif kind == ContactKind.PUSH:
        if not address.replace("-", "").replace("_", "").isalnum() or len(address) > 64:
            raise DomainError("an ntfy topic: letters, digits, - and _", field="address")
        if server and urlsplit(server).scheme not in ("http", "https"):
            raise DomainError("an http(s) URL", field="server")
    return address, (server or "").strip() if kind == ContactKind.PUSH else ""


def _new_method(*, user, kind: str, address: str, server: str, token: str) -> ContactMethod:
    """A contact method checked and not yet saved (``DomainError`` naming the field otherwise)."""
    address, server = _clean_address(kind, address, server)
    if ContactMethod.objects.filter(user=user, kind=kind, address=address).exists():
        raise DomainError("already added", field="address")
    return ContactMethod(
        user=user, kind=kind, address=address, server=server, token=token.strip() if kind == ContactKind.PUSH else ""
    )


def contact_method_add(*, user, kind: str, address: str, server: str = "", token: str = "") -> ContactMethod:
    """Add a method without sending it anything (it is not paged until verified)."""
    method = _new_method(user=user, kind=kind, address=address, server=server, token=token)
    method.save()
    return method


def _send_code(method: ContactMethod) -> str:
    """Send ``method`` (saved or not yet) a test message with a fresh code; return the code.

    Called outside any transaction: a mail server or gateway may take its full timeout to answer,
    and a transaction held meanwhile would hold its row locks (on SQLite, every writer) as long."""
    code = f"{secrets.randbelow(10**6):06d}"
    msg = Message(
        subject=f"Pitchey Incidents verification code: {code}",
        body=f"Your verification code is {code}. Enter it on your profile to receive pages here.",
        priority="default",
    )
    try:
        deliver(method, msg, f"verify-{method.user_id}-{secrets.token_hex(6)}")
    except TransportError as exc:
        raise DomainError(f"the test message could not be sent: {exc.message[:200]}", field="address") from None
    return code


def contact_method_send_code(method: ContactMethod) -> ContactMethod:
    """Send a test message with a fresh code; the method is paged once the code comes back. The code
    is kept only once it was sent (a code that could not be sent leaves the method as it was)."""
    code = _send_code(method)
    ContactMethod.objects.filter(pk=method.pk).update(verification_code=code, verification_sent_at=timezone.now())
    method.refresh_from_db()
    return method


def contact_method_create(*, actor, user, kind: str, address: str, server: str = "", token: str = "") -> ContactMethod:
    """Add a method and send it a code, or nothing at all when the code cannot be sent: the code goes
    out first, then the method is saved with it. A Slack member ID an admin adds is taken as verified
    (it maps that Slack user to the person): no code is sent."""
    method = _new_method(user=user, kind=kind, address=address, server=server, token=token)
    if kind == ContactKind.SLACK and has_role(actor, "admin"):
        method.verified_at = timezone.now()
    else:
        method.verification_code, method.verification_sent_at = _send_code(method), timezone.now()
    try:
        with transaction.atomic():
            method.save()
    except IntegrityError:  # the same address added at the same moment
        raise DomainError("already added", field="address") from None
    return method


def contact_method_verify(method: ContactMethod, code: str) -> ContactMethod:
    sent = method.verification_sent_at
    fresh = sent is not None and timezone.now() - sent < CODE_MAX_AGE
    code = code.strip() if code.isascii() else ""  # compare_digest takes ASCII text only
    if not (method.verification_code and fresh and code and secrets.compare_digest(method.verification_code, code)):
        raise DomainError("that code is not right, or it expired: send a new one", field="code")
    ContactMethod.objects.filter(pk=method.pk).update(
        verified_at=timezone.now(), verification_code="", failed_at=None, failure=""
    )
    method.refresh_from_db()
    return method


def contact_method_failed(method_id: int, reason: str) -> None:
    """A permanent failure (an invalid number, say): the method is not paged until verified again."""
    ContactMethod.objects.filter(pk=method_id, failed_at=None).update(failed_at=timezone.now(), failure=reason[:300])


# --- rules ----------------------------------------------------------------------------------------------


def rule_add(*, user, urgency: str, method: ContactMethod, delay_s: int) -> NotificationRule:
    if urgency not in Urgency.values:
        raise DomainError("high or low", field="urgency")
    if method.user_id != user.pk:
        raise DomainError("not one of this person's contact methods", field="method")
    if not isinstance(delay_s, int) or not 0 <= delay_s <= 24 * 3600:
        raise DomainError("0 to 86400 seconds", field="delay_s")
    return NotificationRule.objects.create(user=user, urgency=urgency, method=method, delay_s=delay_s)


def rules_replace(user, rules: list[dict]) -> None:
    """The person's rules become ``rules`` (``{urgency, after_s, method}``, the method by id), or stay
    as they were when one of them is refused."""
    with transaction.atomic():
        NotificationRule.objects.filter(user=user).delete()
        for rule in rules:
            method = ContactMethod.objects.filter(user=user, pk=rule["method"]).first()
            if method is None:
                raise DomainError(f"method {rule['method']} is not one of this person's contact methods", field="rules")
            rule_add(user=user, urgency=rule["urgency"], method=method, delay_s=rule["after_s"])


def effective_rules(user, urgency: str) -> list[tuple[ContactMethod, int]]:
    """(method, delay) pairs a page of this urgency goes through: the person's own rules for it,
    else push and email at once; only methods that can be paged."""
    rules = [
        (r.method, r.delay_s)
        for r in NotificationRule.objects.filter(user=user, urgency=urgency).select_related("method")
        if r.method.pageable
    ]
    if NotificationRule.objects.filter(user=user, urgency=urgency).exists():
        return rules
    methods = ContactMethod.objects.filter(user=user, kind__in=DEFAULT_KINDS)
    return [(m, 0) for m in methods if m.pageable]


def urgency_of(auto_page: bool) -> str:
    return Urgency.HIGH if auto_page else Urgency.LOW


def users_named(names: list[str]) -> list:
    found = {u.get_username(): u for u in get_user_model().objects.filter(username__in=names, is_active=True)}
    return [found[n] for n in names if n in found]


def cancel_pages(incident_id: int) -> int:
    """Someone took the incident on: person pages queued while it was unacknowledged do not leave."""
    with transaction.atomic():
        return Notification.objects.filter(
            incident_id=incident_id,
            channel="person",
            status=NotificationStatus.PENDING,
            context__while_triggered=True,
        ).update(status=NotificationStatus.CANCELLED, last_error="acknowledged before it was sent", lease_until=None)


# --- people ---------------------------------------------------------------------------------------------


def person_may_edit(actor, person) -> None:
    """A person edits their own profile and methods; an admin edits anyone's."""
    if actor.pk != person.pk and not has_role(actor, "admin"):
        raise PermissionDenied("only an admin changes another person's profile")


def person_create(*, username: str, role: str, name: str = ""):
    """A new person with a role and no password (``createuser`` gives them a token)."""
    username = (username or "").strip()
    try:
        UnicodeUsernameValidator()(username)
    except ValidationError:
        raise DomainError("letters, digits and @ . + - _ only", field="username") from None
    if role not in ROLES:
        raise DomainError(f"one of {', '.join(ROLES)}", field="role")
    User = get_user_model()
    if User.objects.filter(username=username).exists():
        raise DomainError("already taken", field="username")
    try:
        with transaction.atomic():
            user = User(username=username)
            user.set_unusable_password()
            _name_set(user, name)
            user.save()
            role_set(user, role)
    except IntegrityError:  # taken at the same moment
        raise DomainError("already taken", field="username") from None
    return user


def person_update(*, actor, person, name: str | None = None, role: str | None = None, rules: list | None = None):
    """Change what was given: the name, the role (an admin only, never their own), the rules."""
    person_may_edit(actor, person)
    with transaction.atomic():
        if role is not None and role != role_of(person):
            _role_change(actor, person, role)
        if name is not None:
            _name_set(person, name)
            person.save(update_fields=["first_name", "last_name"])
        if rules is not None:
            rules_replace(person, rules)
    return person


def _role_change(actor, person, role: str) -> None:
    """An admin changes other people's roles; their own, another admin (so there is always one left)."""
    if not has_role(actor, "admin"):
        raise PermissionDenied("only an admin changes a role")
    if actor.pk == person.pk:
        raise PermissionDenied("another admin changes your own role")
    if role not in ROLES:
        raise DomainError(f"one of {', '.join(ROLES)}", field="role")
    role_set(person, role)


def _name_set(user, name: str) -> None:
    """The whole name in ``first_name`` (what ``get_full_name`` shows), at most 150 characters."""
    name = (name or "").strip()
    if len(name) > 150:
        raise DomainError("at most 150 characters", field="name")
    user.first_name, user.last_name = name, ""

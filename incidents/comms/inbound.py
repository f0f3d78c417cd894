"""What Slack and PagerDuty tell us (docs/communications.md): a Slack button pressed on one of our
messages, and PagerDuty v3 webhooks about the incidents we triggered there.

Both are verified before anything is read: an HMAC-SHA256 over the raw body with a shared secret.
A request that fails is refused (401), logged without the secret or the signature, and changes
nothing. The change itself goes through the lifecycle's services, like a click on our own page.
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from incidents.comms.links import LINK_ROLES, button_actions
from incidents.comms.models import ContactKind, ContactMethod
from incidents.lifecycle import services as lifecycle
from incidents.lifecycle.models import Incident
from incidents.lifecycle.selectors import incident_find
from pitchey_incidents.errors import DomainError
from pitchey_incidents.http import TransportError, request
from pitchey_incidents.roles import has_role

log = logging.getLogger(__name__)
SLACK_MAX_AGE_S = 5 * 60

# Which system a change came from, so that it is not sent back there (no echo loop).
_origin: contextvars.ContextVar[str] = contextvars.ContextVar("comms_origin", default="")


def origin() -> str:
    return _origin.get()


@contextmanager
def from_origin(name: str) -> Iterator[None]:
    token = _origin.set(name)
    try:
        yield
    finally:
        _origin.reset(token)


def _refuse(status: int, why: str, source: str) -> JsonResponse:
    log.warning("%s request refused: %s", source, why)  # never the secret, the signature or the body
    return JsonResponse({"error": why}, status=status)


# --- Slack ------------------------------------------------------------------------------------------


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def _slack_verified(req: HttpRequest) -> str | None:
    """None when the request is Slack's, else why not."""
    secret = settings.SLACK_SIGNING_SECRET
    if not secret:
        return "Slack interactivity is not configured"
    timestamp = req.headers.get("X-Slack-Request-Timestamp", "")
    signature = req.headers.get("X-Slack-Signature", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > SLACK_MAX_AGE_S:
        return "stale or missing timestamp"
    if not hmac.compare_digest(slack_signature(secret, timestamp, req.body), signature):
        return "bad signature"
    return None


SLACK_ACTIONS = button_actions("Slack")  # Mattermost's buttons act through these too


def _slack_person(slack_user_id: str):
    method = (
        ContactMethod.objects.filter(kind=ContactKind.SLACK, address=slack_user_id, verified_at__isnull=False)
        .select_related("user")
        .first()
    )
    return method.user if method and method.user.is_active else None


def _update_slack_message(response_url: str, text: str) -> None:
    """Replace the message the button was on (``response_url`` points at Slack, nowhere else)."""
    prefix = settings.SLACK_RESPONSE_URL_PREFIX
    if not response_url or not response_url.startswith(prefix):
        log.warning("Slack response_url outside %s ignored", prefix)
        return
    try:
        request("POST", response_url, json={"replace_original": True, "text": text}, ok=(200,))
    except TransportError as exc:
        log.warning("Slack message update failed: %s", exc.message[:200])


def _button_incident(person, verb: str, public_id: str, vendor: str) -> Incident | HttpResponse:
    """The incident a chat button names, or the refusal: the person lacks the action's role, or there
    is no such incident."""
    if not has_role(person, LINK_ROLES[verb]):
        return _refuse(403, f"{person.get_username()} needs the {LINK_ROLES[verb]} role to {verb}", vendor)
    incident = incident_find(public_id)
    return _refuse(404, "no such incident", vendor) if incident is None else incident


@login_not_required
@csrf_exempt
@require_POST
def slack_interactivity(req: HttpRequest) -> HttpResponse:
    """Slack's interactivity request URL: ``payload`` (form field) of a ``block_actions`` press."""
    why = _slack_verified(req)
    if why:
        return _refuse(401, why, "Slack")
    try:
        payload = json.loads(req.POST.get("payload", ""))
        action = payload["actions"][0]
        slack_user = payload["user"]["id"]
    except (ValueError, KeyError, IndexError, TypeError):
        return _refuse(400, "not a block_actions payload", "Slack")
    verb, value = action.get("action_id", ""), action.get("value", "")
    if verb not in SLACK_ACTIONS:
        return HttpResponse(status=200)  # "Open" and other link buttons: nothing to do here
    person = _slack_person(slack_user)
    if person is None:
        return _refuse(403, "this Slack user is not linked to a verified person", "Slack")
    incident = _button_incident(person, verb, value, "Slack")
    if isinstance(incident, HttpResponse):
        return incident
    try:
        with transaction.atomic():
            SLACK_ACTIONS[verb](incident, person)
    except DomainError as exc:
        incident.refresh_from_db()
        text = f"{incident.public_id}: could not {verb} ({exc.message}); it is {incident.get_status_display().lower()}"
        _update_slack_message(payload.get("response_url", ""), text)
        return HttpResponse(status=200)
    incident.refresh_from_db()
    text = (
        f"{incident.public_id} {incident.title}: {incident.get_status_display().lower()} "
        f"by {person.get_username()} (from Slack)"
    )
    _update_slack_message(payload.get("response_url", ""), text)
    return HttpResponse(status=200)


# --- PagerDuty --------------------------------------------------------------------------------------


def pagerduty_signature(secret: str, body: bytes) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


PAGERDUTY_EVENTS = {
    "incident.acknowledged": lambda incident, actor: lifecycle.incident_acknowledge(incident=incident, actor=actor),
    "incident.resolved": lambda incident, actor: lifecycle.incident_resolve(
        incident=incident, resolution="Resolved in PagerDuty.", actor=actor
    ),
}


@login_not_required
@csrf_exempt
@require_POST
def pagerduty_webhook(req: HttpRequest) -> HttpResponse:
    """A PagerDuty v3 webhook subscription's endpoint (``X-PagerDuty-Signature: v1=<hex>[,v1=…]``)."""
    secret = settings.PAGERDUTY_WEBHOOK_SECRET
    if not secret:
        return _refuse(401, "PagerDuty webhooks are not configured", "PagerDuty")
    expected = pagerduty_signature(secret, req.body)
    offered = [s.strip() for s in req.headers.get("X-PagerDuty-Signature", "").split(",") if s.strip()]
    if not any(hmac.compare_digest(expected, s) for s in offered):
        return _refuse(401, "bad signature", "PagerDuty")
    try:
        event = json.loads(req.body)["event"]
        event_type, data = event["event_type"], event.get("data") or {}
    except (ValueError, KeyError, TypeError):
        return _refuse(400, "not a v3 webhook event", "PagerDuty")
    handler = PAGERDUTY_EVENTS.get(event_type)
    if handler is None:
        return JsonResponse({"ignored": event_type})
    from incidents.comms.channels.pagerduty import public_id_of

    public_id = public_id_of(data.get("incident_key") or "")
    incident = incident_find(public_id)
    if incident is None:
        return JsonResponse({"ignored": "not one of our incidents"})
    agent = (event.get("agent") or {}).get("summary") or "someone"
    actor = f"PagerDuty ({agent})"[:150]
    try:
        with from_origin("pagerduty"), transaction.atomic():
            handler(incident, actor)
    except DomainError as exc:  # already acknowledged or resolved here (often our own change, echoed)
        return JsonResponse({"unchanged": exc.message})
    return JsonResponse({"ok": event_type})


# --- Mattermost -------------------------------------------------------------------------------------


@login_not_required
@csrf_exempt
@require_POST
def mattermost_actions(req: HttpRequest) -> HttpResponse:
    """A Mattermost interactive message button: JSON with ``user_name`` and our ``context`` (action,
    incident, the shared token). The Mattermost user is the person with the same username."""
    secret = settings.MATTERMOST_ACTION_TOKEN
    try:
        payload = json.loads(req.body)
        context = payload.get("context") or {}
    except (ValueError, AttributeError):
        return _refuse(400, "not an interactive message request", "Mattermost")
    if not secret or not hmac.compare_digest(str(context.get("token", "")), secret):
        return _refuse(401, "bad token", "Mattermost")
    verb = context.get("action", "")
    if verb not in SLACK_ACTIONS:
        return _refuse(400, "unknown action", "Mattermost")
    user = get_user_model().objects.filter(username=payload.get("user_name") or "", is_active=True).first()
    if user is None:
        return _refuse(403, "this Mattermost user is not a person here", "Mattermost")
    incident = _button_incident(user, verb, str(context.get("incident", "")), "Mattermost")
    if isinstance(incident, HttpResponse):
        return incident
    try:
        with transaction.atomic():
            SLACK_ACTIONS[verb](incident, user)
    except DomainError as exc:
        return JsonResponse({"ephemeral_text": f"Could not {verb} {incident.public_id}: {exc.message}"})
    incident.refresh_from_db()
    state = incident.get_status_display().lower()
    message = f"{incident.public_id} {incident.title}: {state} by {user.get_username()} (from Mattermost)"
    return JsonResponse({"update": {"message": message, "props": {"attachments": []}}})

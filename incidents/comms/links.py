"""Signed, expiring, single-purpose links in a page: Acknowledge, Escalate, Resolve.

A link is ``/page/<purpose>/<token>/``; the token is ``django.core.signing`` over the incident and
the paged person, with a salt per purpose (an Acknowledge token is no Resolve token), and expires
after ``PAGE_LINK_MAX_AGE_S``. It opens a confirmation page that works without a session; the
button acts as the paged person, once (``UsedLink``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.urls import reverse

from incidents.lifecycle import services as lifecycle
from pitchey_incidents.roles import has_role

PURPOSES = ("acknowledge", "escalate", "resolve")
# The role each action needs, as on the incident page; a link acts as its person, with their role.
LINK_ROLES = {"acknowledge": "responder", "escalate": "commander", "resolve": "commander"}


def button_actions(where: str) -> dict[str, Callable]:
    """Acknowledge / Escalate / Resolve as ``action(incident, person)``, pressed from ``where`` ("Slack",
    "a page link"), which the escalation's reason and the resolution name."""
    return {
        "acknowledge": lambda incident, user: lifecycle.incident_acknowledge(incident=incident, actor=user),
        "escalate": lambda incident, user: lifecycle.incident_escalate(
            incident=incident, actor=user, reason=f"escalated from {where}"
        ),
        "resolve": lambda incident, user: lifecycle.incident_resolve(
            incident=incident, resolution=f"Resolved from {where}.", actor=user
        ),
    }


def _salt(purpose: str) -> str:
    return f"pitchey-incidents.page-link.{purpose}"


def make_token(purpose: str, *, incident_id: int, user_id: int) -> str:
    if purpose not in PURPOSES:
        raise ValueError(purpose)
    return signing.dumps({"i": incident_id, "u": user_id}, salt=_salt(purpose), compress=True)


def make_url(purpose: str, *, incident_id: int, user_id: int) -> str:
    token = make_token(purpose, incident_id=incident_id, user_id=user_id)
    return settings.SITE_URL.rstrip("/") + reverse("people:page-link", args=[purpose, token])


def page_links(*, incident_id: int, user) -> dict[str, str]:
    """The links a page to this person carries: the actions their role allows."""
    return {
        purpose: make_url(purpose, incident_id=incident_id, user_id=user.pk)
        for purpose in PURPOSES
        if has_role(user, LINK_ROLES[purpose])
    }


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class BadLink(Exception):
    """Why a link cannot act: shown to the person as is."""


@dataclass(frozen=True)
class Link:
    purpose: str
    incident_id: int
    user: object
    digest: str


def read_token(purpose: str, token: str) -> Link:
    """The link's incident and person, or ``BadLink`` saying why not (forged, expired, wrong
    purpose, person gone). Whether it was used already is for the caller, under a lock."""
    if purpose not in PURPOSES:
        raise BadLink("This link does not do anything we know of.")
    try:
        data = signing.loads(token, salt=_salt(purpose), max_age=settings.PAGE_LINK_MAX_AGE_S)
    except signing.SignatureExpired:
        raise BadLink("This link has expired. Open the incident and act from there.") from None
    except signing.BadSignature:
        raise BadLink("This link is not valid: it was changed, or it is not a link to this action.") from None
    user = get_user_model().objects.filter(pk=data.get("u"), is_active=True).first()
    if user is None:
        raise BadLink("The person this link was sent to no longer has an account.")
    return Link(purpose, int(data["i"]), user, digest(token))

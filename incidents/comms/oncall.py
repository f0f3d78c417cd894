"""Who is on call: rotations turn over at their handoff time; an override covering the moment wins."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Prefetch, Q
from django.utils import timezone

from incidents.comms.models import EmergencyContact, OnCallMember, OnCallOverride, OnCallRotation
from incidents.lifecycle.models import EscalationLevel


def _rotations(at: datetime):
    active = OnCallOverride.objects.filter(starts_at__lte=at, ends_at__gt=at).select_related("user")
    return OnCallRotation.objects.prefetch_related(
        Prefetch("members", queryset=OnCallMember.objects.select_related("user").order_by("position", "id")),
        Prefetch("overrides", queryset=active.order_by("-starts_at", "-id"), to_attr="active_overrides"),
    )


def oncall_now(rotation: OnCallRotation, at: datetime | None = None) -> dict:
    """``{rotation, user, override, until, next}`` for a rotation fetched by ``_rotations``."""
    at = at or timezone.now()
    members = list(rotation.members.all())
    number, _start, end = rotation.shift_at(at)
    overrides = getattr(rotation, "active_overrides", None)
    if overrides is None:
        overrides = list(rotation.overrides.filter(starts_at__lte=at, ends_at__gt=at).order_by("-starts_at", "-id"))
    scheduled = members[number % len(members)].user if members else None
    following = members[(number + 1) % len(members)].user if members else None
    if overrides:
        return {
            "rotation": rotation.name,
            "user": overrides[0].user.get_username(),
            "override": True,
            "until": overrides[0].ends_at,
            "next": scheduled.get_username() if scheduled else None,
        }
    return {
        "rotation": rotation.name,
        "user": scheduled.get_username() if scheduled else None,
        "override": False,
        "until": end if members else None,
        "next": following.get_username() if following else None,
    }


def oncall_overview(at: datetime | None = None) -> list[dict]:
    at = at or timezone.now()
    return [oncall_now(r, at) for r in _rotations(at)]


def emergency_contacts() -> list[dict]:
    return list(EmergencyContact.objects.values("role", "contact", "availability"))


def level_targets(level: EscalationLevel, at: datetime | None = None) -> list[str]:
    """The usernames a level pages now: its people, and whoever is on call in its rotations."""
    at = at or timezone.now()
    names: list[str] = []
    rotation_ids = []
    for target in level.targets.select_related("user").all():
        if target.user_id:
            names.append(target.user.get_username())
        if target.rotation_id:
            rotation_ids.append(target.rotation_id)
    for rotation in _rotations(at).filter(Q(id__in=rotation_ids)):
        user = oncall_now(rotation, at)["user"]
        if user:
            names.append(user)
    return list(dict.fromkeys(names))

"""On-call schedules people can live with: rotations and overrides managed on /people/oncall/,
each person's upcoming shifts, iCalendar feeds (secret-token URLs, revocable) and the handoff
notification to whoever comes on call."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from incidents.comms import people, tasks
from incidents.comms.models import (
    CalendarFeed,
    EscalationTarget,
    Notification,
    OnCallMember,
    OnCallOverride,
    OnCallRotation,
)
from incidents.comms.oncall import oncall_now, rotations_at
from incidents.lifecycle.models import EscalationLevel, Incident
from pitchey_incidents import jobs
from pitchey_incidents.errors import Conflict, DomainError
from pitchey_incidents.roles import has_role

MAX_SHIFTS = 500
MAX_LEVELS = 20
MAX_LEVEL_DELAY_S = 7 * 86400
# Times further away than this are typing errors (and beyond what the calendar can show in every zone).
MAX_YEARS_AWAY = 10


def _user(username: str, field: str = "user"):
    user = get_user_model().objects.filter(username=(username or "").strip(), is_active=True).first()
    if user is None:
        raise DomainError(f"no such person: {username}"[:200], field=field)
    return user


def _near(when: datetime | None, field: str) -> None:
    if when is not None and abs(when - timezone.now()) > timedelta(days=365 * MAX_YEARS_AWAY):
        raise DomainError(f"within {MAX_YEARS_AWAY} years of now", field=field)


# --- rotations, members, overrides, level targets ---------------------------------------------------


def rotation_save(
    *, name: str, handoff_at: datetime | None, shift_hours: float, rotation: OnCallRotation | None = None
) -> OnCallRotation:
    name = (name or "").strip()
    if not name or len(name) > 80:
        raise DomainError("required, at most 80 characters", field="name")
    if handoff_at is None:
        raise DomainError("a date and time", field="handoff_at")
    _near(handoff_at, "handoff_at")
    if not 1 <= shift_hours <= 24 * 28:
        raise DomainError("between 1 hour and 4 weeks", field="shift_hours")
    if OnCallRotation.objects.filter(name=name).exclude(pk=rotation.pk if rotation else None).exists():
        raise DomainError("another rotation has that name", field="name")
    rotation = rotation or OnCallRotation()
    rotation.name, rotation.handoff_at, rotation.shift_s = name, handoff_at, round(shift_hours * 3600)
    rotation.handoff_notified_shift = None
    rotation.save()
    return rotation


def rotation_create(*, name: str, handoff_at: datetime | None, shift_s: int, members: list[str]) -> OnCallRotation:
    """A rotation and its members, in the order given (the first is on call from the handoff)."""
    users = [_user(username, field="members") for username in members]
    if len({u.pk for u in users}) != len(users):
        raise DomainError("someone is listed twice", field="members")
    try:
        with transaction.atomic():
            rotation = rotation_save(name=name, handoff_at=handoff_at, shift_hours=shift_s / 3600)
            OnCallMember.objects.bulk_create(
                OnCallMember(rotation=rotation, user=user, position=position) for position, user in enumerate(users)
            )
    except IntegrityError:  # the same name at the same moment
        raise DomainError("another rotation has that name", field="name") from None
    return rotation


def member_add(*, rotation: OnCallRotation, username: str) -> OnCallMember:
    user = _user(username)
    if rotation.members.filter(user=user).exists():
        raise DomainError("already a member", field="user")
    last = rotation.members.aggregate(n=Max("position"))["n"]
    return OnCallMember.objects.create(rotation=rotation, user=user, position=0 if last is None else last + 1)


def member_move(*, member: OnCallMember, up: bool) -> None:
    """Swap a member with the one before (or after) them in the order."""
    with transaction.atomic():
        members = list(member.rotation.members.select_for_update().order_by("position", "id"))
        i = next(i for i, m in enumerate(members) if m.pk == member.pk)
        j = i - 1 if up else i + 1
        if 0 <= j < len(members):
            members[i], members[j] = members[j], members[i]
        for position, m in enumerate(members):
            OnCallMember.objects.filter(pk=m.pk).update(position=position)


def override_add(*, rotation: OnCallRotation, username: str, starts_at, ends_at) -> OnCallOverride:
    """Someone covers the rotation for a while: a swap, a holiday."""
    user = _user(username)
    if starts_at is None or ends_at is None or ends_at <= starts_at:
        raise DomainError("the end must come after the start", field="ends_at")
    if ends_at - starts_at > timedelta(days=90):
        raise DomainError("at most 90 days", field="ends_at")
    _near(starts_at, "starts_at")
    _near(ends_at, "ends_at")
    return OnCallOverride.objects.create(rotation=rotation, user=user, starts_at=starts_at, ends_at=ends_at)


def override_request(*, actor, rotation: OnCallRotation, username: str, starts_at, ends_at) -> OnCallOverride:
    """A responder covers a rotation themselves; a commander sets anyone to cover."""
    username = username or actor.get_username()
    if username != actor.get_username() and not has_role(actor, "commander"):
        raise PermissionDenied("only a commander sets someone else to cover")
    if not has_role(actor, "responder"):
        raise PermissionDenied("needs the responder role")
    return override_add(rotation=rotation, username=username, starts_at=starts_at, ends_at=ends_at)


def target_add(*, level: EscalationLevel, username: str = "", rotation: OnCallRotation | None = None):
    if rotation is not None:
        return EscalationTarget.objects.get_or_create(level=level, rotation=rotation, user=None)[0]
    return EscalationTarget.objects.get_or_create(level=level, user=_user(username), rotation=None)[0]


def levels_replace(levels: list[dict], *, may_retime: bool) -> None:
    """The escalation policy becomes ``levels`` (``{level, name, after_s, targets: [{user}|{rotation}]}``),
    all at once or not at all. Levels are numbered 1, 2, 3… (an incident climbs one at a time), later
    levels no sooner than earlier ones. Without ``may_retime`` only the targets may change."""
    levels = sorted(levels, key=lambda spec: spec["level"])
    _levels_check(levels)
    targets = [_targets_of(spec) for spec in levels]
    try:
        with transaction.atomic():
            current = list(EscalationLevel.objects.select_for_update().order_by("level"))
            if not may_retime and [(lv.level, lv.name, lv.delay_s) for lv in current] != [
                (spec["level"], spec["name"], spec["after_s"]) for spec in levels
            ]:
                raise PermissionDenied("only an admin changes the levels, their names and times")
            EscalationLevel.objects.filter(level__gt=len(levels)).delete()
            for spec, wanted in zip(levels, targets, strict=True):
                level, _ = EscalationLevel.objects.update_or_create(
                    level=spec["level"], defaults={"name": spec["name"], "delay_s": spec["after_s"]}
                )
                level.targets.all().delete()
                EscalationTarget.objects.bulk_create(EscalationTarget(level=level, **target) for target in wanted)
    except IntegrityError:  # another change to the levels at the same moment
        raise Conflict("the escalation levels changed at the same moment: read them again") from None


def _levels_check(levels: list[dict]) -> None:
    if not 1 <= len(levels) <= MAX_LEVELS:
        raise DomainError(f"1 to {MAX_LEVELS} levels", field="level")
    if [spec["level"] for spec in levels] != list(range(1, len(levels) + 1)):
        raise DomainError("levels are numbered 1, 2, 3… without gaps or repeats", field="level")
    for before, after in zip(levels, levels[1:], strict=False):
        if after["after_s"] < before["after_s"]:
            raise DomainError(f"level {after['level']} comes before level {before['level']}", field="after_s")
    for spec in levels:
        if not spec["name"].strip():
            raise DomainError(f"level {spec['level']}: required", field="name")
        if not 0 <= spec["after_s"] <= MAX_LEVEL_DELAY_S:
            raise DomainError(f"level {spec['level']}: 0 to {MAX_LEVEL_DELAY_S} seconds", field="after_s")


def _targets_of(spec: dict) -> list[dict]:
    """``{user}`` or ``{rotation}`` (by id) → model fields; each target once."""
    found: dict[tuple, dict] = {}
    for target in spec["targets"]:
        if target.get("rotation") is not None:
            rotation = OnCallRotation.objects.filter(pk=target["rotation"]).first()
            if rotation is None:
                raise DomainError(f"level {spec['level']}: no such rotation: {target['rotation']}", field="targets")
            found[("rotation", rotation.pk)] = {"rotation": rotation, "user": None}
        else:
            user = _user(target["user"], field="targets")
            found[("user", user.pk)] = {"user": user, "rotation": None}
    return list(found.values())


# --- shifts ----------------------------------------------------------------------------------------------


def rotation_shifts(rotation: OnCallRotation, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The rotation's scheduled shifts and its overrides between ``start`` and ``end``."""
    members = [m.user for m in rotation.members.select_related("user").order_by("position", "id")]
    out: list[dict[str, Any]] = []
    if members:  # no shifts before the first handoff
        number, shift_start, _ = rotation.shift_at(max(start, rotation.handoff_at))
        length = timedelta(seconds=max(1, rotation.shift_s))
        while shift_start < end and len(out) < MAX_SHIFTS:
            user = members[number % len(members)]
            out.append({"rotation": rotation, "user": user, "start": shift_start, "end": shift_start + length})
            number, shift_start = number + 1, shift_start + length
    overrides = rotation.overrides.filter(ends_at__gt=start, starts_at__lt=end).select_related("user")
    for o in overrides:
        out.append({"rotation": rotation, "user": o.user, "start": o.starts_at, "end": o.ends_at, "override": o})
    return sorted(out, key=lambda s: (s["start"], "override" in s))


def person_shifts(user, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """A person's own upcoming shifts: scheduled ones (marked when someone covers them) and covers."""
    rotations = OnCallRotation.objects.filter(members__user=user) | OnCallRotation.objects.filter(overrides__user=user)
    mine = []
    for rotation in rotations.distinct():
        shifts = rotation_shifts(rotation, start, end)
        covers = [s for s in shifts if "override" in s]
        for s in shifts:
            if s["user"].pk != user.pk:
                continue
            if "override" not in s:
                s["covered_by"] = [
                    c["user"].get_username() for c in covers if c["start"] < s["end"] and c["end"] > s["start"]
                ]
            mine.append(s)
    return sorted(mine, key=lambda s: s["start"])


# --- calendar feeds --------------------------------------------------------------------------------------


def feed_create(*, actor, user=None, rotation: OnCallRotation | None = None) -> CalendarFeed:
    return CalendarFeed.objects.create(
        token=secrets.token_urlsafe(32), user=user, rotation=rotation, created_by=actor.get_username()
    )


def feed_revoke(feed: CalendarFeed) -> None:
    CalendarFeed.objects.filter(pk=feed.pk, revoked_at=None).update(revoked_at=timezone.now())


# --- handoff ---------------------------------------------------------------------------------------------


def handoff_notify(at: datetime | None = None) -> int:
    """Beat: tell whoever has just come on call, through their contact methods, with the open incidents."""
    at = at or timezone.now()
    told = 0
    for rotation in rotations_at(at):
        if not rotation.members.exists():
            continue
        number, _start, end = rotation.shift_at(at)
        if rotation.handoff_notified_shift == number:
            continue
        with transaction.atomic():
            if _claim_handoff(rotation, number) and _notify_oncoming(rotation, at, end):
                told += 1
    return told


def _claim_handoff(rotation: OnCallRotation, number: int) -> bool:
    """Mark shift ``number`` as told, unless another worker already has."""
    claimed = OnCallRotation.objects.filter(pk=rotation.pk, handoff_notified_shift=rotation.handoff_notified_shift)
    return bool(claimed.update(handoff_notified_shift=number))


def _notify_oncoming(rotation: OnCallRotation, at: datetime, end: datetime) -> bool:
    """Queue the handoff message to each of the on-coming person's methods; False when nobody is on call."""
    now = oncall_now(rotation, at)
    if not now["user"]:
        return False
    user = get_user_model().objects.get(username=now["user"])
    context = _handoff_context(rotation, user, now["until"] or end)
    for method, _delay in people.effective_rules(user, "low"):
        row = Notification.objects.create(
            incident=None,
            channel="person",
            target=f"method-{method.pk}",
            kind="handoff",
            next_attempt_at=timezone.now(),
            created_at=timezone.now(),
            context={**context, "method": method.pk, "method_label": method.get_kind_display()},
        )
        jobs.dispatch(tasks.notification_deliver, row.id)
    return True


def _handoff_context(rotation: OnCallRotation, user, until: datetime) -> dict[str, Any]:
    open_incidents = [
        {"id": i.public_id, "severity": i.severity, "title": i.title, "status": i.get_status_display()}
        for i in Incident.objects.open().order_by("severity", "declared_at")[:20]
    ]
    return {
        "rotation": rotation.name,
        "person": user.get_username(),
        "until": until.isoformat(),
        "open_incidents": open_incidents,
        "url": settings.SITE_URL.rstrip("/") + "/people/oncall/",
    }

"""Every write to post-mortems and action items (keyword-only, one transaction, on the timeline).

A post-mortem opens when its incident resolves (``subscribers.py``) with the runbook's four deadlines
counted from the resolution. Completing it closes the incident.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from incidents.lifecycle import events, services
from incidents.lifecycle.models import Incident
from incidents.postmortems import selectors as pm_selectors
from incidents.postmortems.models import (
    ACTION_ITEM_DEFAULT_DUE,
    ACTION_ITEM_OPEN_STATUSES,
    DEADLINES,
    SECTION_NAMES,
    ActionItem,
    ActionItemStatus,
    PostMortem,
    PostMortemDeadline,
    PostMortemStatus,
)
from pitchey_incidents.actors import Actor, actor_name
from pitchey_incidents.errors import DomainError, InvalidTransition
from pitchey_incidents.timefmt import format_duration, format_timestamp
from pitchey_incidents.validation import clean_text

UNSET = object()
SECTION_MAX = 50_000


def _lock_postmortem(incident: Incident) -> PostMortem:
    pm = PostMortem.objects.select_for_update().filter(incident=incident).first()
    if pm is None:
        raise InvalidTransition(
            "no post-mortem yet: it opens when the incident resolves", current_status=incident.status
        )
    return pm


def _deadline_done(pm: PostMortem, name: str, now: datetime) -> None:
    PostMortemDeadline.objects.filter(postmortem=pm, name=name, done_at=None).update(done_at=now)


def _refresh_action_items_deadline(incident: Incident, now: datetime) -> None:
    """The action-items deadline is met once the post-mortem is complete and no item is open."""
    pm = PostMortem.objects.filter(incident=incident).first()
    if pm is None:
        return
    open_items = ActionItem.objects.filter(incident=incident, status__in=ACTION_ITEM_OPEN_STATUSES).exists()
    deadlines = PostMortemDeadline.objects.filter(postmortem=pm, name="action_items")
    if pm.status == PostMortemStatus.COMPLETE and not open_items:
        deadlines.filter(done_at=None).update(done_at=now)
    elif open_items:
        deadlines.exclude(done_at=None).update(done_at=None)


# --- post-mortems --------------------------------------------------------------------------------


def postmortem_open(*, incident: Incident, actor: Actor, now: datetime | None = None) -> PostMortem:
    """Open the post-mortem of a resolved incident (idempotent): deadlines and a pre-filled draft."""
    now = now or timezone.now()
    existing = PostMortem.objects.filter(incident=incident).first()
    if existing is not None:
        return existing
    start = incident.resolved_at or now
    with transaction.atomic():
        record = pm_selectors.incident_record(incident)
        pm = PostMortem.objects.create(
            incident=incident,
            opened_at=now,
            summary=pm_selectors.draft_summary(incident),
            impact=pm_selectors.draft_impact(incident, record),
        )
        PostMortemDeadline.objects.bulk_create(
            PostMortemDeadline(postmortem=pm, name=name, due_at=start + delta) for name, _, delta in DEADLINES
        )
        services.timeline_record(
            incident=incident,
            kind="postmortem_opened",
            actor=actor,
            message=f"Post-mortem opened; initial report due {format_timestamp(start + DEADLINES[0][2])}",
            data={"postmortem": pm.id},
        )
    return pm


def _clean_sections(sections: object) -> dict[str, str]:
    if not isinstance(sections, dict):
        raise DomainError("must be an object of section name → text", field="sections")
    unknown = [k for k in sections if k not in SECTION_NAMES]
    if unknown:
        raise DomainError(f"unknown section(s): {', '.join(map(str, unknown))}", field="sections")
    cleaned = {}
    for name, text in sections.items():
        if text is None:
            text = ""
        if not isinstance(text, str):
            raise DomainError(f"{name} must be text", field="sections")
        if len(text) > SECTION_MAX:
            raise DomainError(f"{name} must be at most {SECTION_MAX} characters", field="sections")
        cleaned[name] = text.strip()
    return cleaned


def postmortem_update(
    *,
    incident: Incident | int,
    actor: Actor,
    sections: dict | None = None,
    status: str | None = None,
    meeting_at: datetime | None | object = UNSET,
    now: datetime | None = None,
) -> PostMortem:
    """Edit sections, move between draft and in review, schedule the meeting.

    1. Validate (400 naming the field); a complete post-mortem is frozen (409).
    2. Save; the initial-report deadline is met once summary, impact and root cause are written,
       the meeting deadline once a meeting time is set.
    3. Record which sections changed on the timeline (names only, not the text).
    """
    now = now or timezone.now()
    cleaned = _clean_update(sections, status, meeting_at)
    with transaction.atomic():
        incident = services.incident_lock(incident)
        pm = _lock_postmortem(incident)
        if pm.status == PostMortemStatus.COMPLETE:
            raise InvalidTransition("the post-mortem is complete and can no longer change", current_status=pm.status)
        changed, notes = _apply_update(pm, cleaned, status, meeting_at)
        if not changed and not notes:
            return pm
        pm.save()
        if pm.summary and pm.impact and pm.root_cause:
            _deadline_done(pm, "initial_report", now)
        if pm.meeting_at:
            _deadline_done(pm, "meeting_scheduled", now)
        parts = ([f"sections {', '.join(changed)}"] if changed else []) + notes
        services.timeline_record(
            incident=incident,
            kind="postmortem_updated",
            actor=actor,
            message=f"Post-mortem updated: {'; '.join(parts)}",
            data={"sections": changed, "status": pm.status},
        )
    return pm


def _clean_update(sections: dict | None, status: str | None, meeting_at: datetime | None | object) -> dict[str, str]:
    """Validate an edit of a post-mortem; returns its cleaned sections."""
    cleaned = _clean_sections(sections) if sections is not None else {}
    if status is not None and status not in (PostMortemStatus.DRAFT, PostMortemStatus.IN_REVIEW):
        raise DomainError("must be draft or in_review (complete it with …/postmortem/complete/)", field="status")
    if meeting_at is not UNSET and meeting_at is not None and not isinstance(meeting_at, datetime):
        raise DomainError("must be a date and time", field="meeting_at")
    return cleaned


def _apply_update(
    pm: PostMortem, cleaned: dict[str, str], status: str | None, meeting_at: datetime | None | object
) -> tuple[list[str], list[str]]:
    """Set what differs; returns the sections changed and notes on the status and meeting."""
    changed = [name for name, text in cleaned.items() if getattr(pm, name) != text]
    for name in changed:
        setattr(pm, name, cleaned[name])
    notes = []
    if status is not None and status != pm.status:
        notes.append(f"status {pm.status} → {status}")
        pm.status = status
    if meeting_at is not UNSET and meeting_at != pm.meeting_at:
        pm.meeting_at = meeting_at
        notes.append(f"meeting {format_timestamp(meeting_at)}" if meeting_at else "meeting unscheduled")
    return changed, notes


def postmortem_complete(*, incident: Incident | int, actor: Actor, now: datetime | None = None) -> PostMortem:
    """Complete the post-mortem (409 while a section is empty) and close the incident with it."""
    now = now or timezone.now()
    with transaction.atomic():
        incident = services.incident_lock(incident)
        pm = _lock_postmortem(incident)
        if pm.status == PostMortemStatus.COMPLETE:
            raise InvalidTransition("the post-mortem is already complete", current_status=pm.status)
        empty = pm.empty_sections()
        if empty:
            raise InvalidTransition(f"sections still empty: {', '.join(empty)}", current_status=pm.status)
        pm.status = PostMortemStatus.COMPLETE
        pm.completed_at = now
        pm.completed_by = actor_name(actor)
        pm.save()
        # Completing writes the report; it does not hold a meeting: that deadline is met only by a date.
        for name in ("initial_report", "complete") + (("meeting_scheduled",) if pm.meeting_at else ()):
            _deadline_done(pm, name, now)
        _refresh_action_items_deadline(incident, now)
        services.timeline_record(
            incident=incident,
            kind="postmortem_completed",
            actor=actor,
            message="Post-mortem complete",
            data={"postmortem": pm.id},
        )
        services.incident_close(incident=incident, actor=actor)
    return pm


# --- action items --------------------------------------------------------------------------------


def _clean_owner(owner: object):
    if owner in (None, ""):
        return None
    if not isinstance(owner, str):
        raise DomainError("must be a username", field="owner")
    user = get_user_model().objects.filter(username=owner.strip(), is_active=True).first()
    if user is None:
        raise DomainError(f"no active user {owner!r}", field="owner")
    return user


def _clean_due(due_at: object) -> datetime:
    if not isinstance(due_at, datetime):
        raise DomainError("must be a date and time", field="due_at")
    return due_at


def _clean_item_status(status: object) -> str:
    if status not in ActionItemStatus.values:
        raise DomainError(f"must be one of {', '.join(ActionItemStatus.values)}", field="status")
    return str(status)


def action_item_create(
    *,
    incident: Incident | int,
    title: str,
    actor: Actor,
    owner: str | None = None,
    due_at: datetime | None = None,
    status: str = ActionItemStatus.OPEN,
    now: datetime | None = None,
) -> ActionItem:
    """A follow-up for the incident; due two weeks from now unless a due date is given."""
    now = now or timezone.now()
    title = clean_text(title, "title", max_length=200)
    owner_user = _clean_owner(owner)
    due = _clean_due(due_at) if due_at is not None else now + ACTION_ITEM_DEFAULT_DUE
    status = _clean_item_status(status)
    with transaction.atomic():
        incident = services.incident_lock(incident)
        item = ActionItem.objects.create(
            incident=incident,
            title=title,
            owner=owner_user,
            due_at=due,
            status=status,
            created_at=now,
            created_by=actor_name(actor),
            done_at=now if status == ActionItemStatus.DONE else None,
        )
        services.timeline_record(
            incident=incident,
            kind="action_item_created",
            actor=actor,
            message=f"Action item: {title}" + (f" (owner {owner_user.get_username()})" if owner_user else ""),
            data={"action_item": item.id, "due_at": due.isoformat()},
        )
        _refresh_action_items_deadline(incident, now)
    return item


def action_item_update(
    *,
    item: ActionItem | int,
    actor: Actor,
    title: object = UNSET,
    owner: object = UNSET,
    due_at: object = UNSET,
    status: object = UNSET,
    now: datetime | None = None,
) -> ActionItem:
    now = now or timezone.now()
    changes = _clean_item_changes(title=title, owner=owner, due_at=due_at, status=status)
    with transaction.atomic():
        item = _lock_item(item)
        changed = [k for k, v in changes.items() if getattr(item, k) != v]
        if not changed:
            return item
        _apply_item_changes(item, changes, changed, now)
        incident = services.incident_lock(item.incident_id)
        services.timeline_record(
            incident=incident,
            kind="action_item_updated",
            actor=actor,
            message=f"Action item “{item.title}”: {', '.join(changed)} changed"
            + (f" → {item.status}" if "status" in changed else ""),
            data={"action_item": item.id, "changed": changed, "status": item.status},
        )
        _refresh_action_items_deadline(incident, now)
    return item


def _clean_item_changes(*, title: object, owner: object, due_at: object, status: object) -> dict[str, object]:
    """The fields an edit sets (those not ``UNSET``), validated."""
    changes: dict[str, object] = {}
    if title is not UNSET:
        changes["title"] = clean_text(title, "title", max_length=200)
    if owner is not UNSET:
        changes["owner"] = _clean_owner(owner)
    if due_at is not UNSET:
        changes["due_at"] = _clean_due(due_at)
    if status is not UNSET:
        changes["status"] = _clean_item_status(status)
    return changes


def _apply_item_changes(item: ActionItem, changes: dict[str, object], changed: list[str], now: datetime) -> None:
    for k in changed:
        setattr(item, k, changes[k])
    if "status" in changed:
        item.done_at = now if item.status == ActionItemStatus.DONE else None
    if "due_at" in changed:
        item.reminded_at = None  # a new due date earns a new reminder if it slips again
    item.save()


def _lock_item(item: ActionItem | int) -> ActionItem:
    pk = item.pk if isinstance(item, ActionItem) else item
    found = ActionItem.objects.select_for_update().filter(pk=pk).first()
    if found is None:
        raise DomainError("no such action item", field="action_item")
    return found


def action_item_delete(*, item: ActionItem | int, actor: Actor, now: datetime | None = None) -> None:
    now = now or timezone.now()
    with transaction.atomic():
        item = _lock_item(item)
        incident = services.incident_lock(item.incident_id)
        pk, title = item.pk, item.title
        item.delete()
        services.timeline_record(
            incident=incident,
            kind="action_item_deleted",
            actor=actor,
            message=f"Action item removed: {title}",
            data={"action_item": pk},
        )
        _refresh_action_items_deadline(incident, now)


# --- reminders -----------------------------------------------------------------------------------


def _remind(incident: Incident, kind: str, message: str, data: dict) -> None:
    """A reminder on the timeline, and a ``ReminderRecorded`` event (comms sends it to Slack)."""
    services.timeline_record(incident=incident, kind=kind, actor="system", message=message, data=data)
    url = settings.SITE_URL.rstrip("/") + reverse("incidents:postmortem", args=[incident.public_id])
    context = {**data, "message": f"⏰ {message}\n{url}", "postmortem_url": url}
    events.publish(events.ReminderRecorded(incident, "system", "postmortem_reminder", context))


def reminders_send(*, now: datetime | None = None) -> dict[str, int]:
    """Remind once about each overdue deadline and action item.

    1. Find overdue deadlines (those of complete post-mortems only for the action items) and open
       action items past their due date that were never reminded.
    2. Claim each with a conditional update of ``reminded_at``, so two workers never remind twice.
    3. In the same transaction, write the reminder on the incident's timeline and queue it in the
       notification outbox (Slack), which delivers it after commit.
    """
    now = now or timezone.now()
    return {"deadlines": _remind_deadlines(now), "action_items": _remind_action_items(now)}


def _remind_deadlines(now: datetime) -> int:
    sent = 0
    deadlines = (
        PostMortemDeadline.objects.filter(done_at=None, reminded_at=None, due_at__lt=now)
        .exclude(
            postmortem__status=PostMortemStatus.COMPLETE, name__in=["initial_report", "meeting_scheduled", "complete"]
        )
        .select_related("postmortem")
    )
    for deadline in deadlines[:500]:
        with transaction.atomic():
            if not PostMortemDeadline.objects.filter(id=deadline.id, reminded_at=None).update(reminded_at=now):
                continue
            late = format_duration((now - deadline.due_at).total_seconds())
            incident = services.incident_lock(deadline.postmortem.incident_id)
            _remind(
                incident,
                "postmortem_overdue",
                f"Overdue: {deadline.label} was due {format_timestamp(deadline.due_at)} ({late} ago)",
                {"deadline": deadline.name, "due_at": deadline.due_at.isoformat()},
            )
            sent += 1
    return sent


def _remind_action_items(now: datetime) -> int:
    sent = 0
    items = ActionItem.objects.filter(status__in=ACTION_ITEM_OPEN_STATUSES, reminded_at=None, due_at__lt=now)
    for item in items.select_related("owner")[:500]:
        with transaction.atomic():
            if not ActionItem.objects.filter(id=item.id, reminded_at=None).update(reminded_at=now):
                continue
            owner = item.owner.get_username() if item.owner else "unassigned"
            incident = services.incident_lock(item.incident_id)
            _remind(
                incident,
                "action_item_overdue",
                f"Overdue action item “{item.title}” (owner {owner}) was due {format_timestamp(item.due_at)}",
                {"action_item": item.id, "owner": owner, "due_at": item.due_at.isoformat()},
            )
            sent += 1
    return sent

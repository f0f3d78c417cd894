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
from incidents.lifecycle.services import Actor
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
from pitchey_incidents.actors import actor_name
from pitchey_incidents.errors import DomainError, InvalidTransition
from pitchey_incidents.timefmt import format_duration, format_timestamp

UNSET = object()
SECTION_MAX = 50_000


def _incident(incident: Incident | int) -> Incident:
    return services._lock(incident)


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
        services._record(
            incident,
            "postmortem_opened",
            actor,
            f"Post-mortem opened; initial report due {format_timestamp(start + DEADLINES[0][2])}",
            {"postmortem": pm.id},
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
    cleaned = _clean_sections(sections) if sections is not None else {}
    if status is not None and status not in (PostMortemStatus.DRAFT, PostMortemStatus.IN_REVIEW):
        raise DomainError("must be draft or in_review (complete it with …/postmortem/complete/)", field="status")
    if meeting_at is not UNSET and meeting_at is not None and not isinstance(meeting_at, datetime):
        raise DomainError("must be a date and time", field="meeting_at")
    with transaction.atomic():
        incident = _incident(incident)
        pm = _lock_postmortem(incident)
        if pm.status == PostMortemStatus.COMPLETE:
            raise InvalidTransition("the post-mortem is complete and can no longer change", current_status=pm.status)
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
        if not changed and not notes:
            return pm
        pm.save()
        if pm.summary and pm.impact and pm.root_cause:
            _deadline_done(pm, "initial_report", now)
        if pm.meeting_at:
            _deadline_done(pm, "meeting_scheduled", now)
        parts = ([f"sections {', '.join(changed)}"] if changed else []) + notes
        services._record(
            incident,
            "postmortem_updated",
            actor,
            f"Post-mortem updated: {'; '.join(parts)}",
            {"sections": changed, "status": pm.status},
        )
    return pm


def postmortem_complete(*, incident: Incident | int, actor: Actor, now: datetime | None = None) -> PostMortem:
    """Complete the post-mortem (409 while a section is empty) and close the incident with it."""
    now = now or timezone.now()
    with transaction.atomic():
        incident = _incident(incident)
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
        for name in ("initial_report", "meeting_scheduled", "complete"):
            _deadline_done(pm, name, now)
        _refresh_action_items_deadline(incident, now)
        services._record(incident, "postmortem_completed", actor, "Post-mortem complete", {"postmortem": pm.id})
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
    title = services._clean_text(title, "title", max_length=200)
    owner_user = _clean_owner(owner)
    due = _clean_due(due_at) if due_at is not None else now + ACTION_ITEM_DEFAULT_DUE
    status = _clean_item_status(status)
    with transaction.atomic():
        incident = _incident(incident)
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
        services._record(
            incident,
            "action_item_created",
            actor,
            f"Action item: {title}" + (f" (owner {owner_user.get_username()})" if owner_user else ""),
            {"action_item": item.id, "due_at": due.isoformat()},
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
    changes: dict = {}
    if title is not UNSET:
        changes["title"] = services._clean_text(title, "title", max_length=200)
    if owner is not UNSET:
        changes["owner"] = _clean_owner(owner)
    if due_at is not UNSET:
        changes["due_at"] = _clean_due(due_at)
    if status is not UNSET:
        changes["status"] = _clean_item_status(status)
    pk = item.pk if isinstance(item, ActionItem) else item
    with transaction.atomic():
        item = ActionItem.objects.select_for_update().filter(pk=pk).first()
        if item is None:
            raise DomainError("no such action item", field="action_item")
        changed = [k for k, v in changes.items() if getattr(item, k) != v]
        if not changed:
            return item
        for k in changed:
            setattr(item, k, changes[k])
        if "status" in changed:
            item.done_at = now if item.status == ActionItemStatus.DONE else None
        if "due_at" in changed:
            item.reminded_at = None  # a new due date earns a new reminder if it slips again
        item.save()
        incident = _incident(item.incident_id)
        services._record(
            incident,
            "action_item_updated",
            actor,
            f"Action item “{item.title}”: {', '.join(changed)} changed"
            + (f" → {item.status}" if "status" in changed else ""),
            {"action_item": item.id, "changed": changed, "status": item.status},
        )
        _refresh_action_items_deadline(incident, now)
    return item


def action_item_delete(*, item: ActionItem | int, actor: Actor, now: datetime | None = None) -> None:
    now = now or timezone.now()
    pk = item.pk if isinstance(item, ActionItem) else item
    with transaction.atomic():
        item = ActionItem.objects.select_for_update().filter(pk=pk).first()
        if item is None:
            raise DomainError("no such action item", field="action_item")
        incident = _incident(item.incident_id)
        title = item.title
        item.delete()
        services._record(incident, "action_item_deleted", actor, f"Action item removed: {title}", {"action_item": pk})
        _refresh_action_items_deadline(incident, now)


# --- reminders -----------------------------------------------------------------------------------


def _remind(incident: Incident, kind: str, message: str, data: dict) -> None:
    """A reminder on the timeline, and a ``ReminderRecorded`` event (comms sends it to Slack)."""
    services._record(incident, kind, "system", message, data)
    url = settings.SITE_URL.rstrip("/") + reverse("incidents:postmortem", args=[incident.public_id])
    context = {**data, "message": f"⏰ {message}\n{url}", "postmortem_url": url}
    events.publish(events.ReminderRecorded(incident, "system", "postmortem_reminder", context))


def reminders_send(*, now: datetime | None = None) -> dict:
    """Remind once about each overdue deadline and action item.

    1. Find overdue deadlines (those of complete post-mortems only for the action items) and open
       action items past their due date that were never reminded.
    2. Claim each with a conditional update of ``reminded_at``, so two workers never remind twice.
    3. In the same transaction, write the reminder on the incident's timeline and queue it in the
       notification outbox (Slack), which delivers it after commit.
    """
    now = now or timezone.now()
    sent = {"deadlines": 0, "action_items": 0}
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
            incident = _incident(deadline.postmortem.incident_id)
            _remind(
                incident,
                "postmortem_overdue",
                f"Overdue: {deadline.label} was due {format_timestamp(deadline.due_at)} ({late} ago)",
                {"deadline": deadline.name, "due_at": deadline.due_at.isoformat()},
            )
            sent["deadlines"] += 1
    items = ActionItem.objects.filter(status__in=ACTION_ITEM_OPEN_STATUSES, reminded_at=None, due_at__lt=now)
    for item in items.select_related("owner")[:500]:
        with transaction.atomic():
            if not ActionItem.objects.filter(id=item.id, reminded_at=None).update(reminded_at=now):
                continue
            owner = item.owner.get_username() if item.owner else "unassigned"
            incident = _incident(item.incident_id)
            _remind(
                incident,
                "action_item_overdue",
                f"Overdue action item “{item.title}” (owner {owner}) was due {format_timestamp(item.due_at)}",
                {"action_item": item.id, "owner": owner, "due_at": item.due_at.isoformat()},
            )
            sent["action_items"] += 1
    return sent

"""Reads for post-mortems and action items: the record a draft starts from, countdowns, Markdown."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Case, IntegerField, Prefetch, QuerySet, Value, When
from django.template.loader import render_to_string
from django.utils import timezone

from incidents.lifecycle.facts import fact
from incidents.lifecycle.models import Incident, Mitigation, TimelineEntry
from incidents.postmortems.models import ACTION_ITEM_OPEN_STATUSES, SECTIONS, ActionItem, PostMortem, PostMortemDeadline
from pitchey_incidents.timefmt import format_duration, format_timestamp
from recovery.selectors import runs

# Timeline kinds that are bookkeeping about the post-mortem itself, not part of the story.
NOT_KEY_KINDS = ("postmortem_", "action_item_")
KEY_TIMELINE_LIMIT = 200


def countdown(due_at: datetime, done_at: datetime | None, now: datetime | None = None) -> dict:
    """How a deadline stands: ``{state: done|overdue|due, text, seconds}`` (seconds left, negative late)."""
    now = now or timezone.now()
    if done_at is not None:
        late = (done_at - due_at).total_seconds()
        return {
            "state": "done",
            "seconds": None,
            "text": "done" + (f", {format_duration(late)} late" if late > 0 else " on time"),
        }
    left = (due_at - now).total_seconds()
    if left < 0:
        return {"state": "overdue", "seconds": left, "text": f"overdue by {format_duration(-left)}"}
    return {"state": "due", "seconds": left, "text": f"due in {format_duration(left)}"}


def _since(incident: Incident, at: datetime | None) -> float | None:
    return (at - incident.declared_at).total_seconds() if at else None


# --- the record a draft is written from -------------------------------------------------------


def key_timeline(incident: Incident) -> list[TimelineEntry]:
    entries = TimelineEntry.objects.filter(incident=incident).order_by("at", "id")
    return [e for e in entries[: KEY_TIMELINE_LIMIT * 2] if not e.kind.startswith(NOT_KEY_KINDS)][:KEY_TIMELINE_LIMIT]


def incident_record(incident: Incident) -> dict:
    """Facts from the record: durations, services, severity changes, key timeline, mitigations."""
    timeline = key_timeline(incident)
    services = list(incident.services.all()) if incident.pk else []
    return {
        "durations": {
            "detect_s": (incident.declared_at - incident.detected_at).total_seconds() if incident.detected_at else None,
            "acknowledge_s": _since(incident, incident.acknowledged_at),
            "mitigate_s": _since(incident, incident.mitigated_at),
            "resolve_s": _since(incident, incident.resolved_at),
        },
        "services": services,
        "severity_changes": [e for e in timeline if e.kind == "severity_changed"],
        "timeline": timeline,
        "mitigations": list(Mitigation.objects.filter(incident=incident).order_by("created_at", "id")),
        "communications": communication_rows(incident),
        "recovery": recovery_rows(incident),
        "notifications": notification_counts(incident),
    }


def recovery_rows(incident: Incident) -> list[dict]:
    """Recovery runs and drills started for this incident, each objective's achieved RTO/RPO vs target."""
    rows = []
    for run in runs(incident=incident.public_id).order_by("created_at", "id"):
        base = {"run": run.id, "kind": run.kind, "plan": run.plan, "status": run.status, "dry_run": run.dry_run}
        base["finished_at"] = run.finished_at
        objectives = sorted(run.objectives.all(), key=lambda o: (o.kind, o.id))
        if not objectives:
            rows.append({**base, "objective": None})
        for o in objectives:
            rows.append(
                {
                    **base,
                    "objective": o.get_kind_display(),
                    "subject": o.name or o.subject,
                    "target_s": o.target_s,
                    "max_s": o.max_s,
                    "achieved_s": o.achieved_s,
                    "met": o.met,
                }
            )
    return rows


def communication_rows(incident: Incident) -> list[dict]:
    """The communication matrix for this incident: each audience's due time against when it was sent."""
    rows = []
    for due in fact(incident, "communications", default=[]):
        if due.sent_at is None:
            state = "not sent" + (" (overdue)" if due.overdue else "")
        elif due.due_at is None or due.sent_at <= due.due_at:
            state = "on time"
        else:
            state = f"late by {format_duration((due.sent_at - due.due_at).total_seconds())}"
        rows.append(
            {
                "audience": due.get_audience_display(),
                "requirement": due.get_requirement_display(),
                "due_at": due.due_at,
                "sent_at": due.sent_at,
                "sent_via": due.sent_via,
                "state": state,
            }
        )
    return rows


def notification_counts(incident: Incident) -> list[tuple[str, str, int]]:
    """(channel, status, count) of the outbox rows for this incident."""
    return fact(incident, "notification_counts", default=[])


def draft_summary(incident: Incident) -> str:
    duration = _since(incident, incident.resolved_at)
    line = f"{incident.severity} incident “{incident.title}” declared {format_timestamp(incident.declared_at)}"
    if incident.resolved_at:
        line += f", resolved after {format_duration(duration)}"
    line += "."
    if incident.resolution:
        line += f" Resolution: {incident.resolution}"
    return line


def draft_impact(incident: Incident, record: dict | None = None) -> str:
    """The Impact section's first draft (``incidents/postmortems/postmortem_impact.md``), from the incident's record."""
    record = record or incident_record(incident)
    return render_to_string("incidents/postmortems/postmortem_impact.md", {"incident": incident, "record": record})


# --- post-mortems ------------------------------------------------------------------------------


def postmortem_of(incident: Incident) -> PostMortem:
    """The incident's post-mortem with deadlines and action items prefetched (DoesNotExist if none)."""
    return (
        PostMortem.objects.select_related("incident")
        .prefetch_related(
            Prefetch("deadlines", queryset=PostMortemDeadline.objects.order_by("due_at", "id")),
            Prefetch(
                "incident__action_items",
                queryset=ActionItem.objects.select_related("owner").order_by("due_at", "id"),
            ),
        )
        .get(incident=incident)
    )


def deadline_rows(postmortem: PostMortem, now: datetime | None = None) -> list[dict]:
    now = now or timezone.now()
    return [
        {
            "name": d.name,
            "label": d.label,
            "due_at": d.due_at,
            "done_at": d.done_at,
            **countdown(d.due_at, d.done_at, now),
        }
        for d in postmortem.deadlines.all()
    ]


def postmortem_markdown(postmortem: PostMortem, now: datetime | None = None) -> str:
    """The post-mortem as one Markdown document (``incidents/postmortems/postmortem.md``): sections, deadlines, action
    items, then the record."""
    incident = postmortem.incident
    record = incident_record(incident)
    context = {
        "incident": incident,
        "postmortem": postmortem,
        "record": record,
        "sections": [(label, getattr(postmortem, name).strip()) for name, label in SECTIONS],
        "deadlines": deadline_rows(postmortem, now or timezone.now()),
        "items": list(incident.action_items.all()),
        "mitigations": [(m, m.output.splitlines()[0] if m.output else "") for m in record["mitigations"]],
    }
    return render_to_string("incidents/postmortems/postmortem.md", context)


# --- action items ------------------------------------------------------------------------------


def action_items(
    *, status: str | None = None, incident: Incident | None = None, now: datetime | None = None
) -> QuerySet:
    """Action items, overdue first, then by due date; ``status="open"`` means open or in progress."""
    now = now or timezone.now()
    qs = ActionItem.objects.select_related("owner", "incident")
    if status == "open":
        qs = qs.filter(status__in=ACTION_ITEM_OPEN_STATUSES)
    elif status:
        qs = qs.filter(status=status)
    if incident is not None:
        qs = qs.filter(incident=incident)
    overdue = Case(
        When(status__in=ACTION_ITEM_OPEN_STATUSES, due_at__lt=now, then=Value(0)),
        default=Value(1),
        output_field=IntegerField(),
    )
    return qs.annotate(overdue_rank=overdue).order_by("overdue_rank", "due_at", "id")

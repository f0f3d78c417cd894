"""Reads for post-mortems and action items: the record a draft starts from, countdowns, Markdown."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Case, IntegerField, Prefetch, QuerySet, Value, When
from django.utils import timezone

from incidents.lifecycle.facts import fact
from incidents.lifecycle.models import Incident, Mitigation, TimelineEntry
from incidents.postmortems.models import ACTION_ITEM_OPEN_STATUSES, SECTIONS, ActionItem, PostMortem, PostMortemDeadline
from recovery.selectors import runs

# Timeline kinds that are bookkeeping about the post-mortem itself, not part of the story.
NOT_KEY_KINDS = ("postmortem_", "action_item_")
KEY_TIMELINE_LIMIT = 200


def human_duration(seconds: float | None) -> str:
    """3725 → ``1 h 2 min``; a compact, readable duration (``—`` when unknown)."""
    if seconds is None:
        return "—"
    seconds = int(round(abs(seconds)))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "min")]
    text = " ".join(f"{n} {unit}" for n, unit in parts if n)
    if not text or (not days and not hours and secs):
        text = (text + " " if text else "") + f"{secs} s"
    return text


def countdown(due_at: datetime, done_at: datetime | None, now: datetime | None = None) -> dict:
    """How a deadline stands: ``{state: done|overdue|due, text, seconds}`` (seconds left, negative late)."""
    now = now or timezone.now()
    if done_at is not None:
        late = (done_at - due_at).total_seconds()
        return {
            "state": "done",
            "seconds": None,
            "text": "done" + (f", {human_duration(late)} late" if late > 0 else " on time"),
        }
    left = (due_at - now).total_seconds()
    if left < 0:
        return {"state": "overdue", "seconds": left, "text": f"overdue by {human_duration(-left)}"}
    return {"state": "due", "seconds": left, "text": f"due in {human_duration(left)}"}


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
            state = f"late by {human_duration((due.sent_at - due.due_at).total_seconds())}"
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
    line = f"{incident.severity} incident “{incident.title}” declared {incident.declared_at:%Y-%m-%d %H:%M} UTC"
    if incident.resolved_at:
        line += f", resolved after {human_duration(duration)}"
    line += "."
    if incident.resolution:
        line += f" Resolution: {incident.resolution}"
    return line


def draft_impact(incident: Incident, record: dict | None = None) -> str:
    record = record or incident_record(incident)
    d = record["durations"]
    lines = []
    if record["services"]:
        names = ", ".join(f"{s.name} (RTO target {human_duration(s.rto_target_s)})" for s in record["services"])
        lines.append(f"- Services affected: {names}")
    else:
        lines.append("- Services affected: none recorded")
    if d["detect_s"] is not None:
        lines.append(f"- Detected {human_duration(d['detect_s'])} before it was declared")
    lines.append(f"- Acknowledged after {human_duration(d['acknowledge_s'])}")
    lines.append(f"- Mitigated after {human_duration(d['mitigate_s'])}")
    lines.append(f"- Resolved after {human_duration(d['resolve_s'])}")
    for change in record["severity_changes"]:
        lines.append(f"- {change.at:%Y-%m-%d %H:%M} {change.message}")
    if incident.escalation_level:
        lines.append(f"- Escalated to level {incident.escalation_level}")
    return "\n".join(lines)


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
    """The post-mortem as one Markdown document: sections, deadlines, action items, then the record."""
    now = now or timezone.now()
    incident = postmortem.incident
    record = incident_record(incident)
    out = [f"# Post-mortem: {incident.public_id} — {incident.title}", ""]
    out += [
        f"- Severity: {incident.severity}",
        f"- Status: {postmortem.get_status_display()}",
        f"- Declared: {incident.declared_at:%Y-%m-%d %H:%M:%S} UTC",
    ]
    if incident.resolved_at:
        out.append(f"- Resolved: {incident.resolved_at:%Y-%m-%d %H:%M:%S} UTC")
    if postmortem.meeting_at:
        out.append(f"- Post-mortem meeting: {postmortem.meeting_at:%Y-%m-%d %H:%M} UTC")
    out.append("")
    for name, label in SECTIONS:
        text = getattr(postmortem, name).strip()
        out += [f"## {label}", "", text or "_(not written yet)_", ""]

    out += ["## Deadlines", "", "| Deadline | Due | Done | State |", "|---|---|---|---|"]
    for row in deadline_rows(postmortem, now):
        done = f"{row['done_at']:%Y-%m-%d %H:%M}" if row["done_at"] else ""
        out.append(f"| {row['label']} | {row['due_at']:%Y-%m-%d %H:%M} | {done} | {row['text']} |")
    out.append("")

    items = list(incident.action_items.all())
    out += ["## Action items", ""]
    if items:
        out += ["| Action item | Owner | Due | Status |", "|---|---|---|---|"]
        for item in items:
            owner = item.owner.get_username() if item.owner else "unassigned"
            out.append(f"| {_cell(item.title)} | {owner} | {item.due_at:%Y-%m-%d} | {item.get_status_display()} |")
    else:
        out.append("_None yet._")
    out.append("")

    out += ["## Timeline", ""]
    for e in record["timeline"]:
        out.append(f"- {e.at:%Y-%m-%d %H:%M:%S} **{e.kind}** ({e.actor}): {_line(e.message)}")
    out.append("")
    out += ["## Mitigations", ""]
    if record["mitigations"]:
        out += ["| Action | Requested by | Status | Output |", "|---|---|---|---|"]
        for m in record["mitigations"]:
            first = m.output.splitlines()[0] if m.output else ""
            out.append(
                f"| {m.action}{' (dry run)' if m.dry_run else ''} | {m.requested_by} | {m.status} | {_cell(first)} |"
            )
    else:
        out.append("_No mitigations were run._")
    out.append("")
    out += _recovery_markdown(record)
    out += _communications_markdown(record)
    return "\n".join(out)


def _recovery_markdown(record: dict) -> list[str]:
    out = ["## Recovery: achieved RTO and RPO", ""]
    if not record["recovery"]:
        return out + ["_No recovery runs were started for this incident._", ""]
    out += [
        "| Run | Plan | Status | Finished | Objective | Of | Target | Maximum | Achieved | Met |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in record["recovery"]:
        finished = f"{r['finished_at']:%Y-%m-%d %H:%M}" if r["finished_at"] else "—"
        run = f"{r['kind']} #{r['run']}" + (" (dry run)" if r["dry_run"] else "")
        head = f"| {run} | {r['plan']} | {r['status']} | {finished} |"
        if r["objective"] is None:
            out.append(f"{head} — | — | — | — | — | — |")
            continue
        met = "—" if r["met"] is None else ("yes" if r["met"] else "**no**")
        out.append(
            f"{head} {r['objective']} | {_cell(r['subject'])} | {human_duration(r['target_s'])} | "
            f"{human_duration(r['max_s'])} | {human_duration(r['achieved_s'])} | {met} |"
        )
    out.append("")
    return out


def _communications_markdown(record: dict) -> list[str]:
    out = ["## Communications", ""]
    if record["communications"]:
        out += ["| Audience | Requirement | Due | Sent | Via | State |", "|---|---|---|---|---|---|"]
        for c in record["communications"]:
            due = f"{c['due_at']:%Y-%m-%d %H:%M:%S}" if c["due_at"] else "—"
            sent = f"{c['sent_at']:%Y-%m-%d %H:%M:%S}" if c["sent_at"] else "—"
            via = _cell(c["sent_via"]) or "—"
            out.append(f"| {c['audience']} | {c['requirement']} | {due} | {sent} | {via} | {c['state']} |")
    else:
        out.append("_No communications were due._")
    if record["notifications"]:
        counts = ", ".join(f"{channel} {status}: {n}" for channel, status, n in record["notifications"])
        out += ["", f"Notifications: {counts}"]
    out.append("")
    return out


def _line(text: str) -> str:
    return " ".join(text.split())


def _cell(text: str) -> str:
    return _line(text).replace("|", "\\|")[:300]


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

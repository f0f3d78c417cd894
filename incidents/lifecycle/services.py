"""Every change to an incident happens here, and only here.

Each service: validates (``DomainError`` naming the field), locks the incident row, checks the state
machine (``InvalidTransition`` → HTTP 409), changes state, appends a timeline entry and an event in
the same transaction, and publishes a typed lifecycle event (``events.py``) whose subscribers do the
follow-up work: this module does not know who they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from incidents.lifecycle import events as lifecycle_events
from incidents.lifecycle import tasks
from incidents.lifecycle.models import (
    OPEN_STATUSES,
    EscalationLevel,
    Incident,
    Mitigation,
    MitigationStatus,
    PublicStatus,
    Source,
    Status,
    TimelineEntry,
)
from pitchey_incidents import events, jobs
from pitchey_incidents.actors import Actor, actor_name
from pitchey_incidents.errors import DomainError, InvalidTransition
from pitchey_incidents.roles import has_role
from pitchey_incidents.validation import clean_text
from recovery.actions import get_action
from recovery.controls import action_execute, left_on
from recovery.models import Service, Severity

S = Status
TRANSITIONS: dict[str, set[str]] = {
    S.TRIGGERED: {S.ACKNOWLEDGED, S.MITIGATING, S.MONITORING, S.RESOLVED},
    S.ACKNOWLEDGED: {S.MITIGATING, S.MONITORING, S.RESOLVED},
    S.MITIGATING: {S.MONITORING, S.RESOLVED},
    S.MONITORING: {S.MITIGATING, S.RESOLVED},
    S.RESOLVED: {S.CLOSED},
    S.CLOSED: set(),
}


# --- the timeline, and helpers -------------------------------------------------------------------------------------


def timeline_record(
    *, incident: Incident, kind: str, actor: Actor, message: str, data: dict | None = None
) -> TimelineEntry:
    """Append an entry to the timeline of an incident the caller holds locked, inside its transaction,
    and tell the live views. The one way anything (lifecycle, comms, post-mortems) writes the timeline."""
    entry = TimelineEntry.objects.create(
        incident=incident, at=timezone.now(), kind=kind, actor=actor_name(actor), message=message, data=data or {}
    )
    events.emit(
        f"incident.{kind}",
        incident.subject,
        {
            "incident": incident.public_id,
            "status": incident.status,
            "severity": incident.severity,
            "timeline_id": entry.id,
            "kind": kind,
            "actor": entry.actor,
            "message": message,
        },
    )
    return entry


def incident_lock(incident: Incident | int) -> Incident:
    """The incident, its row locked until the caller's transaction ends: every change takes this first."""
    pk = incident.pk if isinstance(incident, Incident) else incident
    try:
        return Incident.objects.select_for_update().get(pk=pk)
    except Incident.DoesNotExist:
        raise DomainError("no such incident", field="incident") from None


def _move(incident: Incident, to: str) -> None:
    if to not in TRANSITIONS[incident.status]:
        raise InvalidTransition(f"cannot move from {incident.status} to {to}", current_status=incident.status)
    incident.status = to


def _require_open(incident: Incident, what: str) -> None:
    if incident.status not in OPEN_STATUSES:
        raise InvalidTransition(f"cannot {what} a {incident.status} incident", current_status=incident.status)


def _clean_severity(value: object, field: str = "severity") -> str:
    if value not in Severity.values:
        raise DomainError(f"must be one of {', '.join(Severity.values)}", field=field)
    return str(value)


def _clean_services(slugs: Iterable[str] | None) -> list[Service]:
    slugs = list(slugs or [])
    if not all(isinstance(s, str) for s in slugs):
        raise DomainError("must be a list of service slugs", field="services")
    found = {s.slug: s for s in Service.objects.filter(slug__in=slugs)}
    unknown = [s for s in slugs if s not in found]
    if unknown:
        raise DomainError(f"unknown service(s): {', '.join(unknown)}", field="services")
    return [found[s] for s in dict.fromkeys(slugs)]


# --- the lifecycle --------------------------------------------------------------------------------


def incident_declare(
    *,
    severity: str,
    title: str,
    description: str = "",
    services: Iterable[str] | None = None,
    actor: Actor,
    source: str = Source.MANUAL,
    detected_at: datetime | None = None,
) -> Incident:
    severity = _clean_severity(severity)
    title = clean_text(title, "title", max_length=200)
    description = clean_text(description, "description", max_length=20000, required=False)
    service_objs = _clean_services(services)
    if source not in Source.values:
        raise DomainError("unknown source", field="source")
    with transaction.atomic():
        incident = Incident.objects.create(
            declared_at=timezone.now(),
            severity=severity,
            title=title,
            description=description,
            source=source,
            declared_by=actor_name(actor),
            detected_at=detected_at,
        )
        incident.services.set(service_objs)
        entry = timeline_record(
            incident=incident,
            kind="declared",
            actor=actor,
            message=f"{severity} incident declared: {title}",
            data={"severity": severity, "services": [s.slug for s in service_objs], "source": source},
        )
        lifecycle_events.publish(lifecycle_events.Declared(incident, actor, entry.message))
    return incident


def incident_acknowledge(*, incident: Incident | int, actor: Actor) -> Incident:
    with transaction.atomic():
        incident = incident_lock(incident)
        _move(incident, S.ACKNOWLEDGED)
        incident.acknowledged_at = timezone.now()
        if incident.commander_id is None and not isinstance(actor, str) and actor is not None:
            incident.commander = actor
        incident.save()
        entry = timeline_record(
            incident=incident, kind="acknowledged", actor=actor, message=f"Acknowledged by {actor_name(actor)}"
        )
        lifecycle_events.publish(lifecycle_events.Acknowledged(incident, actor, entry.message))
    return incident


def incident_assign(*, incident: Incident | int, commander: str, actor: Actor) -> Incident:
    username = clean_text(commander, "commander", max_length=150)
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise DomainError(f"no active user {username!r}", field="commander")
    if not has_role(user, "responder"):
        raise DomainError(f"{username} is not a responder or commander", field="commander")
    with transaction.atomic():
        incident = incident_lock(incident)
        _require_open(incident, "assign")
        incident.commander = user
        incident.save()
        entry = timeline_record(
            incident=incident,
            kind="assigned",
            actor=actor,
            message=f"Commander is now {username}",
            data={"commander": username},
        )
        lifecycle_events.publish(lifecycle_events.CommanderAssigned(incident, actor, entry.message))
    return incident


def incident_change_severity(*, incident: Incident | int, severity: str, reason: str, actor: Actor) -> Incident:
    severity = _clean_severity(severity)
    reason = clean_text(reason, "reason", max_length=1000)
    with transaction.atomic():
        incident = incident_lock(incident)
        _require_open(incident, "change the severity of")
        if incident.severity == severity:
            raise DomainError(f"already {severity}", field="severity")
        before, incident.severity = incident.severity, severity
        incident.save()
        entry = timeline_record(
            incident=incident,
            kind="severity_changed",
            actor=actor,
            message=f"Severity {before} → {severity}: {reason}",
            data={"from": before, "to": severity, "reason": reason},
        )
        lifecycle_events.publish(lifecycle_events.SeverityChanged(incident, actor, entry.message))
    return incident


def incident_post_update(*, incident: Incident | int, public_status: str, message: str, actor: Actor) -> Incident:
    if public_status not in PublicStatus.values or public_status == PublicStatus.RESOLVED:
        raise DomainError(
            "must be investigating, identified or monitoring (resolve the incident to resolve it)",
            field="public_status",
        )
    message = clean_text(message, "message", max_length=5000)
    with transaction.atomic():
        incident = incident_lock(incident)
        _require_open(incident, "post an update on")
        incident.public_status = public_status
        incident.save()
        entry = timeline_record(
            incident=incident,
            kind="status_update",
            actor=actor,
            message=message,
            data={"public_status": public_status, "public": True},
        )
        lifecycle_events.publish(lifecycle_events.PublicUpdatePosted(incident, actor, entry.message))
    return incident


def incident_escalate(*, incident: Incident | int, actor: Actor, reason: str = "") -> Incident:
    top = EscalationLevel.objects.order_by("-level").values_list("level", flat=True).first() or 0
    with transaction.atomic():
        incident = incident_lock(incident)
        _require_open(incident, "escalate")
        if incident.escalation_level >= top:
            raise InvalidTransition(f"already at the highest escalation level ({top})", current_status=incident.status)
        incident.escalation_level += 1
        incident.save()
        level = EscalationLevel.objects.filter(level=incident.escalation_level).first()
        name = level.name if level else f"level {incident.escalation_level}"
        entry = timeline_record(
            incident=incident,
            kind="escalated",
            actor=actor,
            message=f"Escalated to {name}" + (f": {reason}" if reason else ""),
            data={"level": incident.escalation_level, "name": name},
        )
        lifecycle_events.publish(lifecycle_events.Escalated(incident, actor, entry.message))
    return incident


def incident_escalation_due(*, incident: Incident | int, level: int) -> Incident:
    """An escalation timer came due: page ``level`` unless someone acknowledged or it was paged."""
    with transaction.atomic():
        incident = incident_lock(incident)
        if incident.status != S.TRIGGERED or incident.escalation_level >= level:
            return incident
        incident.escalation_level = level
        incident.save()
        lifecycle_events.publish(lifecycle_events.EscalationDue(incident, "escalation"))
    return incident


def incident_monitor(*, incident: Incident | int, actor: Actor, message: str = "") -> Incident:
    with transaction.atomic():
        incident = incident_lock(incident)
        _move(incident, S.MONITORING)
        incident.mitigated_at = incident.mitigated_at or timezone.now()
        incident.acknowledged_at = incident.acknowledged_at or incident.mitigated_at
        incident.save()
        entry = timeline_record(
            incident=incident, kind="monitoring", actor=actor, message=message or "Mitigated; monitoring"
        )
        lifecycle_events.publish(lifecycle_events.MonitoringStarted(incident, actor, entry.message))
    return incident


def incident_resolve(*, incident: Incident | int, resolution: str, actor: Actor) -> Incident:
    resolution = clean_text(resolution, "resolution", max_length=5000)
    with transaction.atomic():
        incident = incident_lock(incident)
        _move(incident, S.RESOLVED)
        now = timezone.now()
        incident.resolved_at = now
        incident.acknowledged_at = incident.acknowledged_at or now
        incident.mitigated_at = incident.mitigated_at or now
        incident.public_status = PublicStatus.RESOLVED
        incident.resolution = resolution
        incident.save()
        timeline_record(
            incident=incident,
            kind="resolved",
            actor=actor,
            message=f"Resolved: {resolution}",
            data={"resolution": resolution},
        )
        _controls_reminder(incident)
        lifecycle_events.publish(lifecycle_events.Resolved(incident, actor, resolution))
    return incident


def _controls_reminder(incident: Incident) -> None:
    """Emergency switches this incident turned on, and undos it left (scale back…), stay visible."""
    lines = left_on(incident=incident.public_id)
    if lines:
        timeline_record(
            incident=incident,
            kind="reminder",
            actor="system",
            message="Still in place after this incident: " + "; ".join(lines),
            data={"controls_left_on": lines},
        )


def incident_close(*, incident: Incident | int, actor: Actor) -> Incident:
    """Close a resolved incident, unless a subscriber refuses (the post-mortem is not complete: 409)."""
    with transaction.atomic():
        incident = incident_lock(incident)
        lifecycle_events.publish(lifecycle_events.CloseRequested(incident, actor))
        _move(incident, S.CLOSED)
        incident.closed_at = timezone.now()
        incident.save()
        entry = timeline_record(incident=incident, kind="closed", actor=actor, message="Closed after the post-mortem")
        lifecycle_events.publish(lifecycle_events.Closed(incident, actor, entry.message))
    return incident


def incident_note(
    *, incident: Incident | int, message: str, actor: Actor, kind: str = "note", data: dict | None = None
) -> TimelineEntry:
    """An entry on the timeline that changes no state (integrations report through this)."""
    message = clean_text(message, "message", max_length=5000)
    with transaction.atomic():
        incident = incident_lock(incident)
        return timeline_record(incident=incident, kind=kind, actor=actor, message=message, data=data)


# --- mitigations ----------------------------------------------------------------------------------


def mitigation_start(
    *,
    incident: Incident | int,
    action: str,
    params: dict | None = None,
    actor: Actor,
    dry_run: bool = False,
    inline: bool = False,
) -> Mitigation:
    if not isinstance(action, str):
        raise DomainError("must be an action name", field="action")
    impl = get_action(action)
    cleaned = impl.clean(params)
    with transaction.atomic():
        incident = incident_lock(incident)
        _require_open(incident, "mitigate")
        if not dry_run and incident.status != S.MITIGATING:
            now = timezone.now()
            incident.acknowledged_at = incident.acknowledged_at or now
            _move(incident, S.MITIGATING)
            incident.save()
        mitigation = Mitigation.objects.create(
            incident=incident, action=action, params=cleaned, dry_run=dry_run, requested_by=actor_name(actor)
        )
        entry = timeline_record(
            incident=incident,
            kind="mitigation_requested",
            actor=actor,
            message=f"{'Dry run of' if dry_run else 'Mitigation'} {impl.label} requested",
            data={"mitigation": mitigation.id, "action": action, "params": cleaned, "dry_run": dry_run},
        )
        lifecycle_events.publish(lifecycle_events.MitigationRequested(incident, actor, entry.message))
        jobs.dispatch(tasks.mitigation_run, mitigation.id, inline=inline)
    return mitigation


def mitigation_execute(*, mitigation_id: int) -> Mitigation | None:
    """Run a queued mitigation once: claim it with a conditional update, run, record the outcome."""
    now = timezone.now()
    claimed = Mitigation.objects.filter(id=mitigation_id, status=MitigationStatus.QUEUED).update(
        status=MitigationStatus.RUNNING, started_at=now
    )
    if not claimed:
        return None  # another worker has it, or it already ran
    mitigation = Mitigation.objects.select_related("incident").get(id=mitigation_id)
    events.emit(
        "mitigation.running",
        mitigation.incident.subject,
        {"incident": mitigation.incident.public_id, "mitigation": mitigation.id},
    )
    try:  # on the one audit trail of controls and mitigations, with the requests it sent
        run = action_execute(
            action=mitigation.action,
            params=mitigation.params,
            actor=mitigation.requested_by or "system",
            incident=mitigation.incident.public_id,
            dry_run=mitigation.dry_run,
            source="mitigation",
            idempotency_key=f"mitigation:{mitigation.id}",
        )
        ok, output = run.status == "succeeded", run.output
    except Exception as exc:  # an action's failure is the mitigation's outcome, not a crash
        ok, output = False, f"{exc.__class__.__name__}: {exc}".splitlines()[0][:2000]
    return _mitigation_finish(mitigation, ok=ok, output=output)


def _mitigation_finish(mitigation: Mitigation, *, ok: bool, output: str) -> Mitigation:
    with transaction.atomic():
        status = MitigationStatus.SUCCEEDED if ok else MitigationStatus.FAILED
        updated = Mitigation.objects.filter(id=mitigation.id, status=MitigationStatus.RUNNING).update(
            status=status, output=output, finished_at=timezone.now()
        )
        mitigation.refresh_from_db()
        if updated and ok and not mitigation.dry_run:
            # Time to mitigate counts from the first mitigation that worked (not the "monitoring" click).
            done = mitigation.finished_at
            Incident.objects.filter(
                Q(mitigated_at__isnull=True) | Q(mitigated_at__gt=done), id=mitigation.incident_id
            ).update(mitigated_at=done)
        if updated:
            verb = "succeeded" if ok else "failed"
            timeline_record(
                incident=mitigation.incident,
                kind=f"mitigation_{verb}",
                actor="system",
                message=f"{get_action(mitigation.action).label} {verb}: {output.splitlines()[0] if output else ''}",
                data={"mitigation": mitigation.id, "action": mitigation.action, "output": output[:4000]},
            )
    return mitigation


def mitigations_sweep(*, queued_after_s: int = 60, running_after_s: int = 900) -> dict:
    """Re-dispatch mitigations the broker never delivered; fail those whose worker died."""
    now = timezone.now()
    stale_queued = list(
        Mitigation.objects.filter(
            status=MitigationStatus.QUEUED, created_at__lt=now - timezone.timedelta(seconds=queued_after_s)
        ).values_list("id", flat=True)[:500]
    )
    for mid in stale_queued:
        jobs.send(tasks.mitigation_run, mid)
    lost = Mitigation.objects.select_related("incident").filter(
        status=MitigationStatus.RUNNING, started_at__lt=now - timezone.timedelta(seconds=running_after_s)
    )
    for mitigation in lost:
        _mitigation_finish(mitigation, ok=False, output="worker lost while running; not retried automatically")
    return {"redispatched": len(stale_queued), "failed": len(lost)}

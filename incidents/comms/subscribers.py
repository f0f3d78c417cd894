"""What comms does when an incident changes: plan and send its communications, page, and start or
stop escalation. Each handler runs inside the change's transaction, so the outbox rows and timers
commit (or roll back) with the change; delivery happens after commit (``services.py``)."""

from __future__ import annotations

from incidents.comms.channels import REGISTRY, enabled_channels
from incidents.comms.models import Audience
from incidents.comms.services import (
    CHANNEL_AUDIENCE,
    _mark_sent,
    communications_plan,
    communications_replan,
    escalation_start,
    escalation_stop,
    notification_enqueue,
    page_level,
)
from incidents.lifecycle.events import (
    Acknowledged,
    Closed,
    CommanderAssigned,
    Declared,
    Escalated,
    EscalationDue,
    IncidentChanged,
    MitigationRequested,
    MonitoringStarted,
    PublicUpdatePosted,
    ReminderRecorded,
    Resolved,
    SeverityChanged,
    subscribe,
)
from incidents.lifecycle.models import Incident, SeverityPolicy, Status
from incidents.lifecycle.services import actor_name


def _policy(incident: Incident) -> SeverityPolicy | None:
    return SeverityPolicy.objects.prefetch_related("communications").filter(severity=incident.severity).first()


def _announce(event: IncidentChanged, policy: SeverityPolicy | None) -> None:
    """Queue the change on every configured channel that carries this kind of change."""
    context = {"message": event.message, "actor": actor_name(event.actor)}
    for impl in enabled_channels():
        if impl.wants(event.kind, event.incident, policy):
            notification_enqueue(
                incident=event.incident,
                channel=impl.name,
                kind=event.kind,
                context=context,
                audience=CHANNEL_AUDIENCE.get(impl.name, ""),
            )


def _stop_escalation_once_handled(incident: Incident) -> None:
    """Escalation pages only while nobody has taken the incident on."""
    if incident.status != Status.TRIGGERED:
        escalation_stop(incident)


@subscribe(Declared)
def incident_declared(event: Declared) -> None:
    policy = _policy(event.incident)
    communications_plan(event.incident, policy)
    _announce(event, policy)
    escalation_start(event.incident, policy)


@subscribe(Acknowledged, CommanderAssigned, MonitoringStarted, Resolved, Closed, MitigationRequested)
def incident_moved_on(event: IncidentChanged) -> None:
    _announce(event, _policy(event.incident))
    _stop_escalation_once_handled(event.incident)


@subscribe(SeverityChanged)
def severity_changed(event: SeverityChanged) -> None:
    """The new severity's matrix applies from now on; raised to an auto-paged severity while nobody
    has acknowledged, paging starts as if it had been declared so."""
    policy = _policy(event.incident)
    communications_replan(event.incident, policy)
    _announce(event, policy)
    if event.incident.status != Status.TRIGGERED:
        escalation_stop(event.incident)
    elif not event.incident.escalation_timers.exists():
        escalation_start(event.incident, policy)


@subscribe(PublicUpdatePosted)
def public_update_posted(event: PublicUpdatePosted) -> None:
    _mark_sent(event.incident.id, Audience.EXTERNAL, "public update")
    _announce(event, _policy(event.incident))
    _stop_escalation_once_handled(event.incident)


@subscribe(Escalated, EscalationDue)
def escalation_reached(event: IncidentChanged) -> None:
    """Page the level reached (a commander may escalate even once acknowledged); earlier timers stop."""
    incident = event.incident
    escalation_stop(incident, up_to=incident.escalation_level)
    page_level(incident, incident.escalation_level, event.actor, _policy(incident))
    _stop_escalation_once_handled(incident)


@subscribe(ReminderRecorded)
def reminder_recorded(event: ReminderRecorded) -> None:
    """Reminders go to the incident's Slack channel, when Slack is configured."""
    if REGISTRY["slack"].enabled():
        notification_enqueue(incident=event.incident, channel="slack", kind=event.notification, context=event.context)

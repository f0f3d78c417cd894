"""Reads shaped for pages and the API, with a fixed number of queries whatever the row count."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth import get_user_model
from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from incidents.lifecycle.models import (
    Incident,
    Mitigation,
    SeverityPolicy,
    Source,
    Status,
    TimelineEntry,
    format_public_id,
    parse_public_id,
)
from pitchey_incidents.errors import DomainError
from recovery.models import Service


def incident_list(*, status: str | None = None, severity: str | None = None, service: str | None = None) -> QuerySet:
    qs = Incident.objects.select_related("commander").prefetch_related(
        Prefetch("services", queryset=Service.objects.only("id", "slug", "name"))
    )
    if status:
        if status == "open":
            qs = qs.open()
        elif status not in Status.values:
            raise DomainError(f"must be open or one of {', '.join(Status.values)}", field="status")
        else:
            qs = qs.filter(status=status)
    if severity:
        if severity not in ("P0", "P1", "P2", "P3"):
            raise DomainError("must be one of P0, P1, P2, P3", field="severity")
        qs = qs.filter(severity=severity)
    if service:
        qs = qs.filter(services__slug=service)
    return qs


def incident_or_404(public_id: str) -> Incident:
    """``incident_get`` for pages and the API: an unknown id is a 404."""
    try:
        return incident_get(public_id)
    except Incident.DoesNotExist:
        raise Http404("no such incident") from None


def incident_find(public_id: str) -> Incident | None:
    """The incident ``INC-00042`` (or ``42``) names, or None: not an id, or no such incident."""
    number = parse_public_id(public_id)
    return Incident.objects.filter(id=number).first() if number else None


def incident_get(public_id: str) -> Incident:
    number = parse_public_id(public_id)
    incident = incident_list().filter(pk=number).first() if number is not None else None
    if incident is None:
        raise Incident.DoesNotExist(public_id)
    return incident


def incident_timeline(incident: Incident) -> QuerySet:
    return TimelineEntry.objects.filter(incident=incident).order_by("at", "id")


def incident_mitigations(incident: Incident) -> QuerySet:
    return Mitigation.objects.filter(incident=incident).select_related("incident").order_by("created_at", "id")


def severity_policies() -> dict[str, SeverityPolicy]:
    return {p.severity: p for p in SeverityPolicy.objects.all()}


# --- the dashboard ---------------------------------------------------------------------------------


def open_incidents_by_severity(*, now: datetime | None = None) -> list[dict]:
    """Open incidents per severity (P0 first), each with its response-time deadline; 3 queries."""
    now = now or timezone.now()
    policies = severity_policies()
    groups = {sev: [] for sev in ("P0", "P1", "P2", "P3")}
    for incident in incident_list(status="open").order_by("declared_at", "id")[:500]:
        policy = policies.get(incident.severity)
        incident.response_due = (incident.declared_at + policy.response_time) if policy else None
        incident.response_overdue = bool(
            incident.response_due and not incident.acknowledged_at and now > incident.response_due
        )
        incident.response_met = bool(
            incident.response_due and incident.acknowledged_at and incident.acknowledged_at <= incident.response_due
        )
        groups.setdefault(incident.severity, []).append(incident)
    return [{"severity": sev, "policy": policies.get(sev), "incidents": items} for sev, items in groups.items()]


def service_board(*, health: dict[str, str]) -> list[Service]:
    """Every catalog service with the open incidents affecting it, and its health (slug → word, as
    ``detection.selectors.service_health`` gives it; ``unknown`` when missing)."""
    services = list(Service.objects.all())
    through = Incident.services.through
    affected: dict[int, list[str]] = {}
    for service_id, incident_id in through.objects.filter(
        incident__in=Incident.objects.open().values("pk")
    ).values_list("service_id", "incident_id"):
        affected.setdefault(service_id, []).append(format_public_id(incident_id))
    for service in services:
        service.open_incidents = sorted(affected.get(service.id, []))
        service.health = health.get(service.slug, "unknown")
    return services


def responders() -> list[str]:
    """Usernames that can command an incident (responder role or above), for the assign form."""
    users = get_user_model().objects.filter(is_active=True)
    users = users.filter(Q(is_superuser=True) | Q(groups__name__in=["responder", "commander", "admin"]))
    return sorted(set(users.values_list("username", flat=True)))


def detected_incidents(since: datetime, limit: int = 50) -> list[tuple[str, str]]:
    """``(public_id, source)`` of the incidents opened by detection (not by hand) since ``since``, newest first."""
    rows = Incident.objects.filter(declared_at__gte=since).exclude(source=Source.MANUAL).order_by("-declared_at")
    return [(format_public_id(i), source) for i, source in rows.values_list("id", "source")[:limit]]

"""Reads shaped for pages and the API, with a fixed number of queries whatever the row count."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from incidents.lifecycle.models import (
    Incident,
    Mitigation,
    Service,
    SeverityPolicy,
    Status,
    TimelineEntry,
    format_public_id,
    parse_public_id,
)
from pitchey_incidents.errors import DomainError


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


def open_incidents_by_severity(*, now=None) -> list[dict]:
    """Open incidents per severity (P0 first), each with its response-time deadline; 3 queries."""
    from django.utils import timezone

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


def service_board() -> list[Service]:
    """Every catalog service with the open incidents affecting it (health comes from detection)."""
    services = list(Service.objects.all())
    through = Incident.services.through
    affected: dict[int, list[str]] = {}
    for service_id, incident_id in through.objects.filter(
        incident__in=Incident.objects.open().values("pk")
    ).values_list("service_id", "incident_id"):
        affected.setdefault(service_id, []).append(format_public_id(incident_id))
    health = service_health()
    for service in services:
        service.open_incidents = sorted(affected.get(service.id, []))
        service.health = health.get(service.slug, "unknown")
    return services


def responders() -> list[str]:
    """Usernames that can command an incident (responder role or above), for the assign form."""
    from django.contrib.auth import get_user_model
    from django.db.models import Q

    users = get_user_model().objects.filter(is_active=True)
    users = users.filter(Q(is_superuser=True) | Q(groups__name__in=["responder", "commander", "admin"]))
    return sorted(set(users.values_list("username", flat=True)))


# --- detection ------------------------------------------------------------------------------------

HEALTH_ORDER = {"down": 3, "degraded": 2, "ok": 1}
HEALTH_WORDS = {"down": "down", "degraded": "degraded", "ok": "healthy"}


def probes_with_latest() -> list:
    """Every enabled probe with ``latest`` (its newest ProbeResult or None), in two queries."""
    from django.db.models import OuterRef, Subquery

    from incidents.detection.models import Probe, ProbeResult

    newest = ProbeResult.objects.filter(probe=OuterRef("pk")).order_by("-at", "-id").values("id")[:1]
    probes = list(Probe.objects.filter(enabled=True).select_related("service").annotate(latest_id=Subquery(newest)))
    results = ProbeResult.objects.in_bulk([p.latest_id for p in probes if p.latest_id])
    for probe in probes:
        probe.latest = results.get(probe.latest_id)
    return probes


def service_health() -> dict[str, str]:
    """slug → healthy | degraded | down, from each service's probes' latest results (worst wins)."""
    from incidents.detection.models import ProbeKind

    worst: dict[str, str] = {}
    for probe in probes_with_latest():
        # Backup age is about the data's protection, not the service's health (the RPO panel shows it).
        if probe.latest is None or probe.kind == ProbeKind.BACKUP_RPO:
            continue
        slug, status = probe.service.slug, probe.latest.status
        if HEALTH_ORDER.get(status, 0) > HEALTH_ORDER.get(worst.get(slug, ""), 0):
            worst[slug] = status
    return {slug: HEALTH_WORDS[status] for slug, status in worst.items()}

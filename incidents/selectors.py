"""Reads shaped for pages and the API, with a fixed number of queries whatever the row count."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from pitchey_incidents.errors import DomainError

from .models import Incident, Mitigation, Service, SeverityPolicy, Status, TimelineEntry, parse_public_id


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

"""Reads of detection data for pages and the API: probes with their latest result, service health."""

from __future__ import annotations

from django.db.models import OuterRef, Subquery

from incidents.detection.models import Probe, ProbeKind, ProbeResult

# --- health ---------------------------------------------------------------------------------------

HEALTH_ORDER = {"down": 3, "degraded": 2, "ok": 1}
HEALTH_WORDS = {"down": "down", "degraded": "degraded", "ok": "healthy"}


def probes_with_latest() -> list:
    """Every enabled probe with ``latest`` (its newest ProbeResult or None), in two queries."""
    newest = ProbeResult.objects.filter(probe=OuterRef("pk")).order_by("-at", "-id").values("id")[:1]
    probes = list(Probe.objects.filter(enabled=True).select_related("service").annotate(latest_id=Subquery(newest)))
    results = ProbeResult.objects.in_bulk([p.latest_id for p in probes if p.latest_id])
    for probe in probes:
        probe.latest = results.get(probe.latest_id)
    return probes


def service_health() -> dict[str, str]:
    """slug → healthy | degraded | down, from each service's probes' latest results (worst wins)."""
    worst: dict[str, str] = {}
    for probe in probes_with_latest():
        # Backup age is about the data's protection, not the service's health (the RPO panel shows it).
        if probe.latest is None or probe.kind == ProbeKind.BACKUP_RPO:
            continue
        slug, status = probe.service.slug, probe.latest.status
        if HEALTH_ORDER.get(status, 0) > HEALTH_ORDER.get(worst.get(slug, ""), 0):
            worst[slug] = status
    return {slug: HEALTH_WORDS[status] for slug, status in worst.items()}

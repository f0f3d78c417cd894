"""The incident domain's metrics for ``/metrics`` (see ``pitchey_incidents.metrics``)."""

from __future__ import annotations

from django.apps import apps
from django.db.models import Count, Sum

from . import selectors
from .models import Alert, Incident, Severity


def collect():
    open_by = dict(Incident.objects.open().values_list("severity").annotate(n=Count("id")))
    yield (
        "pitchey_incidents_open",
        "gauge",
        "Open incidents by severity.",
        [({"severity": sev}, open_by.get(sev, 0)) for sev in Severity.values],
    )
    received = (
        Alert.objects.values_list("group__source__name", "group__source__kind").annotate(n=Sum("received")).order_by()
    )
    yield (
        "pitchey_alerts_received_total",
        "counter",
        "Alert deliveries received, by source.",
        [({"source": name, "kind": kind}, n or 0) for name, kind, n in received],
    )
    probes = selectors.probes_with_latest()
    up, latency, values = [], [], []
    for p in probes:
        if p.latest is None:
            continue
        labels = {"check": p.name, "service": p.service.slug}
        up.append((labels | {"status": p.latest.status}, 1 if p.latest.status == "ok" else 0))
        if p.latest.latency_ms is not None:
            latency.append((labels, p.latest.latency_ms))
        values += [(labels | {"metric": k}, v) for k, v in p.latest.metrics.items() if isinstance(v, (int, float))]
    yield ("pitchey_probe_ok", "gauge", "1 when the check's latest result is ok.", up)
    yield ("pitchey_probe_latency_ms", "gauge", "Latency of the check's latest result.", latency)
    yield ("pitchey_probe_value", "gauge", "Figures measured by the check's latest result.", values)
    yield from _notification_failures()


def _notification_failures():
    """Failed notifications, once the communications work's ``Notification`` model exists."""
    try:
        model = apps.get_model("incidents", "Notification")
    except LookupError:
        return
    fields = {f.name for f in model._meta.get_fields()}
    if "status" not in fields:
        return
    group = "channel" if "channel" in fields else None
    qs = model.objects.filter(status="failed")
    samples = (
        [({"channel": str(c)}, n) for c, n in qs.values_list(group).annotate(n=Count("id")).order_by()]
        if group
        else [({}, qs.count())]
    )
    yield ("pitchey_notifications_failed", "gauge", "Notifications that failed for good.", samples)

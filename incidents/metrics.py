"""The incident domain's metrics for ``/metrics`` (see ``pitchey_incidents.metrics``)."""

from __future__ import annotations

from django.db.models import Count, Sum

from incidents.comms.models import Notification
from incidents.detection import selectors as detection_selectors
from incidents.detection.models import Alert
from incidents.lifecycle.models import Incident
from incidents.postmortems import metrics as metrics_postmortem
from recovery.models import Severity


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
    probes = detection_selectors.probes_with_latest()
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
    failed = Notification.objects.filter(status="failed").values_list("channel").annotate(n=Count("id")).order_by()
    yield (
        "pitchey_notifications_failed",
        "gauge",
        "Notifications that failed for good, by channel.",
        [({"channel": channel}, n) for channel, n in failed],
    )
    # MTTx, response time met, action items, post-mortem deadlines, recovery objectives, backup success.
    yield from metrics_postmortem.collect()

"""Payload builders written from the vendors' documented wire formats (shared/reference/README.md)."""

from __future__ import annotations

import hashlib

from incidents.detection import alerting


def make_source(name: str = "prom", kind: str = "alertmanager", **opts) -> tuple[object, str]:
    return alerting.alertsource_create(name=name, kind=kind, actor="test", **opts)


def am_alert(name: str, *, status: str = "firing", severity: str = "critical", service: str = "api", **labels) -> dict:
    all_labels = {"alertname": name, "severity": severity, "service": service, **labels}
    fingerprint = hashlib.sha256(repr(sorted(all_labels.items())).encode()).hexdigest()[:16]
    return {
        "status": status,
        "labels": all_labels,
        "annotations": {"summary": f"{name} on {service}"},
        "startsAt": "2026-11-27T05:00:00.123456789Z",
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-11-27T05:10:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
        "fingerprint": fingerprint,
    }


def am_payload(group_key: str, alerts: list[dict], **extra) -> dict:
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    return {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "pitchey",
        "groupLabels": {"alertname": alerts[0]["labels"]["alertname"]},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts,
        **extra,
    }

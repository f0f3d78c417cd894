"""Prometheus Alertmanager's webhook (payload version 4), as Alertmanager sends it."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from incidents.detection.intake.base import (
    Intake,
    ParsedAlert,
    need_dict,
    need_status,
    need_str,
    opt_str_map,
    parse_time,
    register,
)
from pitchey_incidents.errors import DomainError

MAX_ALERTS = 5000


def label_fingerprint(labels: dict[str, str]) -> str:
    """Stand-in identity when a (custom-templated) payload carries no fingerprint."""
    return hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]


@register
class AlertmanagerIntake(Intake):
    kind = "alertmanager"

    def parse(self, payload: Any) -> list[ParsedAlert]:
        payload = need_dict(payload, "body")
        group_key = payload.get("groupKey") or ""
        if not isinstance(group_key, str):
            raise DomainError("must be text", field="groupKey")
        alerts = payload.get("alerts")
        if not isinstance(alerts, list):
            raise DomainError("must be a list of alerts", field="alerts")
        if len(alerts) > MAX_ALERTS:
            raise DomainError(f"at most {MAX_ALERTS} alerts per delivery", field="alerts")
        return [self.parse_alert(a, f"alerts[{i}]", group_key[:255]) for i, a in enumerate(alerts)]

    def parse_alert(self, raw: Any, where: str, group_key: str) -> ParsedAlert:
        raw = need_dict(raw, where)
        labels = opt_str_map(raw.get("labels"), f"{where}.labels")
        annotations = opt_str_map(raw.get("annotations"), f"{where}.annotations")
        fingerprint = raw.get("fingerprint")
        identity = (
            need_str(fingerprint, f"{where}.fingerprint") if fingerprint is not None else label_fingerprint(labels)
        )
        summary = annotations.get("summary") or annotations.get("description") or labels.get("alertname") or identity
        return ParsedAlert(
            identity=identity,
            status=need_status(raw.get("status"), f"{where}.status"),
            summary=summary[:500],
            group_key=group_key,
            labels=labels,
            annotations=annotations,
            starts_at=parse_time(raw.get("startsAt"), f"{where}.startsAt"),
            ends_at=parse_time(raw.get("endsAt"), f"{where}.endsAt"),
        )

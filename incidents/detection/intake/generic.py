"""Any other sender: ``{dedup_key, status, severity?, summary, source?, service?, details?}``
(one object, or a list of them)."""

from __future__ import annotations

import json
from typing import Any

from incidents.detection.intake.base import Intake, ParsedAlert, need_dict, need_status, need_str, register
from pitchey_incidents.errors import DomainError
from recovery.models import Severity

MAX_ALERTS = 1000


@register
class GenericIntake(Intake):
    kind = "generic"

    def parse(self, payload: Any) -> list[ParsedAlert]:
        if isinstance(payload, list):
            if len(payload) > MAX_ALERTS:
                raise DomainError(f"at most {MAX_ALERTS} alerts per delivery", field="body")
            return [self.parse_one(item, f"[{i}].") for i, item in enumerate(payload)]
        return [self.parse_one(payload, "")]

    def parse_one(self, raw: Any, prefix: str) -> ParsedAlert:
        raw = need_dict(raw, prefix.rstrip(".") or "body")
        dedup_key = need_str(raw.get("dedup_key"), f"{prefix}dedup_key")
        summary = need_str(raw.get("summary"), f"{prefix}summary", max_length=1024)
        labels = {}
        for name in ("severity", "source", "service"):
            value = raw.get(name)
            if value is not None:
                labels[name] = need_str(value, f"{prefix}{name}", max_length=200)
        details = raw.get("details")
        if details is not None and not isinstance(details, (dict, str)):
            raise DomainError("must be an object or text", field=f"{prefix}details")
        annotations = {"summary": summary}
        if details:
            annotations["details"] = details if isinstance(details, str) else json.dumps(details)[:4000]
        severity = labels.get("severity", "").upper()
        return ParsedAlert(
            identity=dedup_key,
            status=need_status(raw.get("status"), f"{prefix}status"),
            summary=summary[:500],
            labels=labels,
            annotations=annotations,
            severity=severity if severity in Severity.values else None,
        )

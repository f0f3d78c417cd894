"""Grafana Alerting's webhook: Alertmanager-shaped (version 1), optionally HMAC-signed."""

from __future__ import annotations

import hashlib
import hmac

from incidents.detection.intake.alertmanager import AlertmanagerIntake
from incidents.detection.intake.base import register
from pitchey_incidents.env import env_str

SIGNATURE_HEADER = "X-Grafana-Alerting-Signature"


@register
class GrafanaIntake(AlertmanagerIntake):
    kind = "grafana"

    def verify(self, source, body: bytes, headers) -> str | None:
        """hex HMAC-SHA256(secret, [timestamp ":"] body) when the source names a signing secret."""
        if not source.signing_secret_env:
            return None
        secret = env_str(source.signing_secret_env)
        if not secret:
            return "signing secret not configured on this server"
        message = body
        if source.timestamp_header:
            timestamp = headers.get(source.timestamp_header, "")
            if not timestamp:
                return f"missing {source.timestamp_header}"
            message = timestamp.encode() + b":" + body
        expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
        given = headers.get(SIGNATURE_HEADER, "").strip().lower()
        return None if hmac.compare_digest(expected, given) else "bad or missing signature"

"""A generic outgoing webhook: every incident change as JSON, signed with HMAC-SHA256.

Headers: ``X-Pitchey-Delivery`` (the notification id: receivers de-duplicate on it),
``X-Pitchey-Timestamp`` and ``X-Pitchey-Signature: sha256=<hex>`` over ``timestamp + "." + body``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from django.conf import settings

from pitchey_incidents.http import request

from .base import Channel, register


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


@register
class Webhook(Channel):
    name = "webhook"
    label = "Webhook"
    idempotent = True  # the delivery id lets the receiver drop a repeat

    def enabled(self) -> bool:
        return bool(settings.OUTGOING_WEBHOOK_URL and settings.OUTGOING_WEBHOOK_SECRET)

    def wants(self, kind, incident, policy) -> bool:
        return kind not in ("reminder",)

    def send(self, notification) -> dict:
        ctx = notification.context
        document = {
            "delivery": notification.id,
            "event": notification.kind,
            "incident": {k: ctx.get(k) for k in ("id", "severity", "title", "status", "public_status", "url")},
            "services": ctx.get("service_slugs", []),
            "message": ctx.get("message", ""),
            "at": ctx.get("at"),
        }
        body = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Pitchey-Delivery": str(notification.id),
            "X-Pitchey-Timestamp": timestamp,
            "X-Pitchey-Signature": sign(settings.OUTGOING_WEBHOOK_SECRET, timestamp, body),
        }
        request("POST", settings.OUTGOING_WEBHOOK_URL, data=body, headers=headers)
        return {}

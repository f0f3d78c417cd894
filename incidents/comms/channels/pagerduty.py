"""PagerDuty Events API v2: trigger, acknowledge, resolve, one ``dedup_key`` per incident."""

from __future__ import annotations

from django.conf import settings

from incidents.comms.models import Notification
from pitchey_incidents.http import request

from .base import Channel, register

SEVERITY = {"P0": "critical", "P1": "error", "P2": "warning", "P3": "info"}
ACTIONS = {
    "declared": "trigger",
    "page": "trigger",
    "severity_changed": "trigger",
    "acknowledged": "acknowledge",
    "resolved": "resolve",
}


def dedup_key(public_id: str) -> str:
    return f"pitchey-incidents/{public_id}"


@register
class PagerDuty(Channel):
    name = "pagerduty"
    label = "PagerDuty"
    idempotent = True  # a repeated event with the same dedup_key changes nothing at PagerDuty

    def enabled(self) -> bool:
        return bool(settings.PAGERDUTY_ROUTING_KEY)

    def wants(self, kind, incident, policy) -> bool:
        triggers = ("declared", "page", "severity_changed")
        triggered = Notification.objects.filter(incident=incident, channel=self.name, kind__in=triggers)
        if kind == "declared":
            return bool(policy and policy.auto_page)
        if kind == "severity_changed":  # raised to an auto-paged severity while still unanswered
            return bool(policy and policy.auto_page and incident.status == "triggered" and not triggered.exists())
        if kind == "page":  # PagerDuty runs its own escalation once triggered: trigger only once
            return not triggered.exists()
        if kind in ("acknowledged", "resolved"):
            return triggered.exists()
        return False

    def payload(self, notification) -> dict:
        ctx = notification.context
        event = {
            "routing_key": settings.PAGERDUTY_ROUTING_KEY,
            "event_action": ACTIONS[notification.kind],
            "dedup_key": dedup_key(ctx["id"]),
        }
        if event["event_action"] != "trigger":
            return event
        event["payload"] = {
            "summary": f"[{ctx['id']}] {ctx['severity']} {ctx['title']}"[:1024],
            "source": ctx.get("site", "pitchey-incidents"),
            "severity": SEVERITY[ctx["severity"]],
            "timestamp": ctx["declared_at"],
            "component": ",".join(ctx.get("service_slugs", []))[:255] or None,
            "group": "pitchey-incidents",
            "class": "incident",
            "custom_details": {
                "incident": ctx["id"],
                "status": ctx["status"],
                "services": ctx.get("services", []),
                "commander": ctx.get("commander"),
                "escalation_level": ctx.get("level"),
            },
        }
        event["payload"] = {k: v for k, v in event["payload"].items() if v is not None}
        event["links"] = [{"href": ctx["url"], "text": f"{ctx['id']} on Pitchey Incidents"}]
        event["client"] = "Pitchey Incidents"
        event["client_url"] = ctx["url"]
        return event

    def send(self, notification) -> dict:
        url = f"{settings.PAGERDUTY_EVENTS_URL}/v2/enqueue"
        resp = request("POST", url, json=self.payload(notification), ok=(202,))
        return {"dedup_key": (resp.json or {}).get("dedup_key")}

"""Mattermost incoming webhooks (Slack-compatible payload), routed per severity like Slack, with
interactive message buttons that post back to ``/integrations/mattermost/actions`` carrying a
shared token (``MATTERMOST_ACTION_TOKEN``)."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse

from pitchey_incidents.http import TransportError, request

from .base import Channel, register, render
from .slack import INTERACTIVE, route_targets


@register
class Mattermost(Channel):
    name = "mattermost"
    label = "Mattermost"

    @staticmethod
    def routes() -> dict[str, str]:
        urls = {
            "incidents": settings.MATTERMOST_WEBHOOK,
            "critical": settings.MATTERMOST_WEBHOOK_CRITICAL,
            "warning": settings.MATTERMOST_WEBHOOK_WARNING,
        }
        return {name: url for name, url in urls.items() if url}

    def enabled(self) -> bool:
        return bool(self.routes())

    def wants(self, kind, incident, policy) -> bool:
        return kind in {"declared", "acknowledged", "severity_changed", "status_update", "resolved", "page", "reminder"}

    def targets(self, kind, incident) -> list[str]:
        return route_targets(self.routes(), kind, incident)

    def payload(self, notification) -> dict:
        ctx = notification.context
        text = render(notification.kind, ctx)
        if ctx.get("url") and ctx.get("id"):
            text += f"\n[{ctx['id']} on Pitchey Incidents]({ctx['url']})"
        body: dict = {"text": text[:16000], "username": "Pitchey Incidents"}
        if settings.MATTERMOST_ACTION_TOKEN and notification.kind in INTERACTIVE and ctx.get("id"):
            url = settings.SITE_URL.rstrip("/") + reverse("integrations:mattermost-actions")

            def action(label: str, verb: str, style: str = "default") -> dict:
                context = {"action": verb, "incident": ctx["id"], "token": settings.MATTERMOST_ACTION_TOKEN}
                return {"id": verb, "name": label, "style": style, "integration": {"url": url, "context": context}}

            buttons = [action("Acknowledge", "acknowledge", "primary"), action("Escalate", "escalate")]
            buttons.append(action("Resolve", "resolve", "danger"))
            body["attachments"] = [{"fallback": text[:200], "actions": buttons}]
        return body

    def send(self, notification) -> dict:
        url = self.routes().get(notification.target)
        if not url:
            raise TransportError(f"Mattermost route {notification.target!r} is no longer configured", permanent=True)
        request("POST", url, json=self.payload(notification), ok=(200,))
        return {}

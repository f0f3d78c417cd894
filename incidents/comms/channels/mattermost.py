"""Mattermost incoming webhooks (Slack-compatible payload), routed per severity like Slack, with
interactive message buttons that post back to ``/integrations/mattermost/actions`` carrying a
shared token (``MATTERMOST_ACTION_TOKEN``)."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse

from .base import register, render
from .chat import INTERACTIVE, ChatChannel


@register
class Mattermost(ChatChannel):
    name = "mattermost"
    label = "Mattermost"
    vendor = "Mattermost"
    webhook_setting = "MATTERMOST_WEBHOOK"

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

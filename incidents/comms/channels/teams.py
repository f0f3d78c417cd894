"""Microsoft Teams through a Workflows (Power Automate) webhook: one message carrying an Adaptive
Card with the incident and a link to it, routed per severity like Slack."""

from __future__ import annotations

from django.conf import settings

from pitchey_incidents.http import TransportError, request

from .base import Channel, register, render
from .slack import route_targets

COLORS = {"P0": "Attention", "P1": "Attention", "P2": "Warning", "P3": "Accent"}


@register
class Teams(Channel):
    name = "teams"
    label = "Microsoft Teams"

    @staticmethod
    def routes() -> dict[str, str]:
        urls = {
            "incidents": settings.TEAMS_WEBHOOK,
            "critical": settings.TEAMS_WEBHOOK_CRITICAL,
            "warning": settings.TEAMS_WEBHOOK_WARNING,
        }
        return {name: url for name, url in urls.items() if url}

    def enabled(self) -> bool:
        return bool(self.routes())

    def wants(self, kind, incident, policy) -> bool:
        return kind in {"declared", "acknowledged", "severity_changed", "status_update", "resolved", "page", "reminder"}

    def targets(self, kind, incident) -> list[str]:
        return route_targets(self.routes(), kind, incident)

    def card(self, notification) -> dict:
        ctx = notification.context
        text = render(notification.kind, ctx)
        body: list[dict] = [
            {
                "type": "TextBlock",
                "size": "Large",
                "weight": "Bolder",
                "wrap": True,
                "color": COLORS.get(ctx.get("severity", ""), "Default"),
                "text": f"{ctx.get('severity', '')} {ctx.get('id', '')} {ctx.get('title', '')}".strip(),
            },
            {"type": "TextBlock", "wrap": True, "text": text[:4000]},
        ]
        if ctx.get("id"):
            facts = [{"title": "Status", "value": ctx.get("status_display", "")}]
            if ctx.get("services"):
                facts.append({"title": "Services", "value": ", ".join(ctx["services"])})
            if ctx.get("commander"):
                facts.append({"title": "Commander", "value": ctx["commander"]})
            body.append({"type": "FactSet", "facts": facts})
        card = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": body,
        }
        if ctx.get("url"):
            card["actions"] = [
                {"type": "Action.OpenUrl", "title": f"Open {ctx.get('id', 'incident')}", "url": ctx["url"]}
            ]
        return card

    def payload(self, notification) -> dict:
        attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None}
        return {"type": "message", "attachments": [{**attachment, "content": self.card(notification)}]}

    def send(self, notification) -> dict:
        url = self.routes().get(notification.target)
        if not url:
            raise TransportError(f"Teams route {notification.target!r} is no longer configured", permanent=True)
        request("POST", url, json=self.payload(notification), ok=(200, 202))
        return {}

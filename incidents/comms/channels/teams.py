"""Microsoft Teams through a Workflows (Power Automate) webhook: one message carrying an Adaptive
Card with the incident and a link to it, routed per severity like Slack."""

from __future__ import annotations

from .base import register, render
from .chat import ChatChannel

COLORS = {"P0": "Attention", "P1": "Attention", "P2": "Warning", "P3": "Accent"}


@register
class Teams(ChatChannel):
    name = "teams"
    label = "Microsoft Teams"
    vendor = "Teams"
    webhook_setting = "TEAMS_WEBHOOK"
    accepted = (200, 202)

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

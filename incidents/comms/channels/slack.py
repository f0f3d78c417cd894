"""Slack incoming webhooks: P0/P1 to #alerts-critical, P2/P3 to #alerts-warning, all to #incidents."""

from __future__ import annotations

from django.conf import settings

from pitchey_incidents.http import Response, TransportError

from .base import register, render
from .chat import INTERACTIVE, ChatChannel


@register
class Slack(ChatChannel):
    name = "slack"
    label = "Slack"
    vendor = "Slack"
    requires = "SLACK_WEBHOOK"
    webhook_setting = "SLACK_WEBHOOK"

    def payload(self, notification) -> dict:
        ctx = notification.context
        text = render(notification.kind, ctx)
        link = f"<{ctx['url']}|{ctx['id']}>" if ctx.get("url") and ctx.get("id") else ""
        mentions = " ".join(f"<@{m}>" for m in ctx.get("mentions") or [])
        if mentions:
            text = f"{text}\n{mentions}"
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}]
        if link:
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"Incident page: {link}"}]})
        if settings.SLACK_SIGNING_SECRET and notification.kind in INTERACTIVE and ctx.get("id"):
            blocks.append(self.buttons(ctx))
        return {"text": text, "blocks": blocks}

    @staticmethod
    def buttons(ctx: dict) -> dict:
        """Acknowledge / Escalate / Resolve (pressed → our interactivity endpoint) and Open."""

        def button(label: str, action: str, style: str | None = None) -> dict:
            element = {"type": "button", "text": {"type": "plain_text", "text": label}, "action_id": action}
            element["value"] = ctx["id"]
            if style:
                element["style"] = style
            return element

        elements = [button("Acknowledge", "acknowledge", "primary"), button("Escalate", "escalate")]
        elements.append(button("Resolve", "resolve", "danger"))
        if ctx.get("url"):
            elements.append(
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Open"},
                    "action_id": "open",
                    "url": ctx["url"],
                }
            )
        return {"type": "actions", "block_id": f"incident-{ctx['id']}", "elements": elements}

    def check(self, resp: Response) -> None:
        if resp.text.strip() != "ok":  # Slack answers exactly "ok"; anything else did not post
            raise TransportError(f"Slack answered {resp.text[:100]!r}", status=resp.status)

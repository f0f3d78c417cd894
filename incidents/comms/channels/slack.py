"""Slack incoming webhooks: P0/P1 to #alerts-critical, P2/P3 to #alerts-warning, all to #incidents."""

from __future__ import annotations

import logging

from django.conf import settings

from pitchey_incidents.http import Response

from .base import register, render
from .chat import INTERACTIVE, ChatChannel

log = logging.getLogger(__name__)


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

    def check(self, resp: Response, notification) -> dict | None:
        answer = resp.text.strip()
        if answer != "ok":
            # Slack documents 200 "ok" for a posted message and a 4xx/5xx with an error word otherwise.
            # A 200 with any other body was still accepted: posting again would risk a duplicate, so it
            # is logged and kept on the row, never re-sent.
            log.warning("Slack %s answered 200 with %r instead of ok", notification.target, answer[:100])
            return {"answer": answer[:100]}
        return None

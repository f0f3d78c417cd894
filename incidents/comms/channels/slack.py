"""Slack incoming webhooks: P0/P1 to #alerts-critical, P2/P3 to #alerts-warning, all to #incidents."""

from __future__ import annotations

import logging

from django.conf import settings

from pitchey_incidents.http import TransportError, request

from .base import Channel, register, render

log = logging.getLogger(__name__)

CRITICAL = ("P0", "P1")
# Pages and reminders go to the severity's channel only; everything else also to #incidents.
SEVERITY_ONLY = {"page", "reminder"}
# Messages that carry Acknowledge / Escalate / Resolve buttons (when SLACK_SIGNING_SECRET is set).
INTERACTIVE = {"declared", "page", "escalation_due"}


def route_targets(routes: dict[str, str], kind: str, incident) -> list[str]:
    """Which of a channel's webhooks (``incidents`` / ``critical`` / ``warning``) a message goes to:
    the severity's, and #incidents too unless it is a page or a reminder. Shared by every chat channel."""
    severity_route = "critical" if incident is None or incident.severity in CRITICAL else "warning"
    chosen = [severity_route] if severity_route in routes else []
    if "incidents" in routes and not (kind in SEVERITY_ONLY and chosen):
        chosen.append("incidents")
    if not chosen:  # only the other severity's webhook is set: better there than nowhere
        chosen = [next(iter(routes))]
    # Two routes set to one URL would post the same message twice into one channel.
    seen, unique = set(), []
    for route in chosen:
        if routes[route] not in seen:
            seen.add(routes[route])
            unique.append(route)
    return unique


@register
class Slack(Channel):
    name = "slack"
    label = "Slack"
    requires = "SLACK_WEBHOOK"

    @staticmethod
    def routes() -> dict[str, str]:
        """Route name → webhook URL, for the webhooks that are set (URLs are secrets: never stored)."""
        urls = {
            "incidents": settings.SLACK_WEBHOOK,
            "critical": settings.SLACK_WEBHOOK_CRITICAL,
            "warning": settings.SLACK_WEBHOOK_WARNING,
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

    def send(self, notification) -> dict:
        url = self.routes().get(notification.target)
        if not url:
            raise TransportError(f"Slack route {notification.target!r} is no longer configured", permanent=True)
        resp = request("POST", url, json=self.payload(notification), ok=(200,))
        answer = resp.text.strip()
        if answer != "ok":
            # Slack documents 200 "ok" for a posted message and a 4xx/5xx with an error word otherwise.
            # A 200 with any other body was still accepted: posting again would risk a duplicate, so it
            # is logged and kept on the row, never re-sent.
            log.warning("Slack %s answered 200 with %r instead of ok", notification.target, answer[:100])
            return {"answer": answer[:100]}
        return {}

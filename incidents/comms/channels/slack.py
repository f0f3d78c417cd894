"""Slack incoming webhooks: P0/P1 to #alerts-critical, P2/P3 to #alerts-warning, all to #incidents."""

from __future__ import annotations

from django.conf import settings

from pitchey_incidents.http import TransportError, request

from .base import Channel, register, render

CRITICAL = ("P0", "P1")
# Pages and reminders go to the severity's channel only; everything else also to #incidents.
SEVERITY_ONLY = {"page", "reminder"}


@register
class Slack(Channel):
    name = "slack"
    label = "Slack"

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
        routes = self.routes()
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

    def payload(self, notification) -> dict:
        ctx = notification.context
        text = render(notification.kind, ctx)
        link = f"<{ctx['url']}|{ctx['id']}>" if ctx.get("url") and ctx.get("id") else ""
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}]
        if link:
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"Incident page: {link}"}]})
        return {"text": text, "blocks": blocks}

    def send(self, notification) -> dict:
        url = self.routes().get(notification.target)
        if not url:
            raise TransportError(f"Slack route {notification.target!r} is no longer configured", permanent=True)
        resp = request("POST", url, json=self.payload(notification), ok=(200,))
        if resp.text.strip() != "ok":  # Slack answers exactly "ok"; anything else did not post
            raise TransportError(f"Slack answered {resp.text[:100]!r}", status=resp.status)
        return {}

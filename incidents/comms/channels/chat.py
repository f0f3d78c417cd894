"""What the chat channels (Slack, Mattermost, Teams) share: three incoming webhooks per service
(``<PREFIX>``, ``<PREFIX>_CRITICAL``, ``<PREFIX>_WARNING``), routed per severity, and one POST of the
service's payload to the chosen webhook. Each service only says how its message looks."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from django.conf import settings

from pitchey_incidents.http import Response, TransportError, request

from .base import Channel

CRITICAL = ("P0", "P1")
# Pages and reminders go to the severity's channel only; everything else also to #incidents.
SEVERITY_ONLY = {"page", "reminder"}
# Messages that carry Acknowledge / Escalate / Resolve buttons (where the service is set up for them).
INTERACTIVE = {"declared", "page", "escalation_due"}
# What a chat channel hears about.
KINDS = {"declared", "acknowledged", "severity_changed", "status_update", "resolved", "page", "reminder"}


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


class ChatChannel(Channel):
    """A chat service reached through incoming webhooks named by ``webhook_setting`` (and its
    ``_CRITICAL`` / ``_WARNING`` variants). Subclasses give ``payload``; ``check`` may refuse an answer."""

    webhook_setting: str = ""
    vendor: str = ""  # as error messages name the service
    accepted: tuple[int, ...] = (200,)

    @classmethod
    def routes(cls) -> dict[str, str]:
        """Route name → webhook URL, for the webhooks that are set (URLs are secrets: never stored)."""
        base = cls.webhook_setting
        urls = {
            "incidents": getattr(settings, base),
            "critical": getattr(settings, f"{base}_CRITICAL"),
            "warning": getattr(settings, f"{base}_WARNING"),
        }
        return {name: url for name, url in urls.items() if url}

    def enabled(self) -> bool:
        return bool(self.routes())

    def wants(self, kind, incident, policy) -> bool:
        return kind in KINDS

    def targets(self, kind, incident) -> list[str]:
        return route_targets(self.routes(), kind, incident)

    @abstractmethod
    def payload(self, notification) -> dict[str, Any]: ...

    def check(self, resp: Response, notification) -> dict | None:
        """What to keep on the row about an accepted answer (raise ``TransportError`` if it was refused)."""
        return None

    def send(self, notification) -> dict:
        url = self.routes().get(notification.target)
        if not url:
            raise TransportError(f"{self.vendor} route {notification.target!r} is no longer configured", permanent=True)
        resp = request("POST", url, json=self.payload(notification), ok=self.accepted)
        return self.check(resp, notification) or {}

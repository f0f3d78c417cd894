"""Notification channels: one small class each, looked up by name.

``REGISTRY["slack"].send(notification)``. A channel is enabled when its settings are present.
"""

from __future__ import annotations

from pitchey_incidents.errors import DomainError

from .base import Channel, render
from .email import Email
from .pagerduty import PagerDuty
from .slack import Slack
from .statuspage import Statuspage
from .webhook import Webhook

REGISTRY: dict[str, Channel] = {c.name: c for c in (Slack(), PagerDuty(), Statuspage(), Email(), Webhook())}


def get_channel(name: str) -> Channel:
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise DomainError(f"must be one of {', '.join(REGISTRY)}", field="channel") from None


def enabled_channels() -> list[Channel]:
    return [c for c in REGISTRY.values() if c.enabled()]


__all__ = ["REGISTRY", "Channel", "enabled_channels", "get_channel", "render"]

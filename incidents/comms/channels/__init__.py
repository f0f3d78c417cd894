"""Notification channels: one small class each, looked up by name.

``REGISTRY["slack"].send(notification)``. A channel is enabled when its settings are present.
"""

from __future__ import annotations

from incidents.comms.channels.base import Channel, render
from incidents.comms.channels.email import Email
from incidents.comms.channels.pagerduty import PagerDuty
from incidents.comms.channels.slack import Slack
from incidents.comms.channels.statuspage import Statuspage
from incidents.comms.channels.webhook import Webhook
from pitchey_incidents.errors import DomainError

REGISTRY: dict[str, Channel] = {c.name: c for c in (Slack(), PagerDuty(), Statuspage(), Email(), Webhook())}


def get_channel(name: str) -> Channel:
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise DomainError(f"must be one of {', '.join(REGISTRY)}", field="channel") from None


def enabled_channels() -> list[Channel]:
    return [c for c in REGISTRY.values() if c.enabled()]


__all__ = ["REGISTRY", "Channel", "enabled_channels", "get_channel", "render"]

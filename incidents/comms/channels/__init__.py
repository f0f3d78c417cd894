"""Notification channels: one small class each, looked up by name.

``REGISTRY["slack"].send(notification)``. A channel is enabled when its settings are present.
"""

from __future__ import annotations

from .base import REGISTRY, Channel, render


def get_channel(name: str) -> Channel:
    return REGISTRY[name]


def enabled_channels() -> list[Channel]:
    return [c for c in REGISTRY.values() if c.enabled()]


__all__ = ["REGISTRY", "Channel", "enabled_channels", "get_channel", "render"]

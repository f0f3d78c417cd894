"""Small display helpers for the incident pages: durations a commander reads at a glance."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def duration(value) -> str:
    """Seconds or a timedelta → ``2d 3h``, ``1h 05m``, ``4m 12s``, ``12s``."""
    if value is None or value == "":
        return "—"
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else value)
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


@register.simple_tag
def elapsed(start: datetime | None, end: datetime | None = None) -> str:
    """How long from ``start`` to ``end`` (or now)."""
    if start is None:
        return "—"
    return duration((end or timezone.now()) - start)


@register.simple_tag
def countdown(due: datetime | None, now: datetime | None = None) -> str:
    """``due in 4m 12s`` or ``OVERDUE by 1m 05s`` (the same words the page's ticker writes)."""
    if due is None:
        return "—"
    left = (due - (now or timezone.now())).total_seconds()
    return f"due in {duration(left)}" if left >= 0 else f"OVERDUE by {duration(left)}"


@register.filter
def lookup(mapping, key):
    """``mapping|lookup:key`` — a dict entry whose key is not a valid template name."""
    try:
        return mapping.get(key) if mapping else None
    except AttributeError:
        return None


@register.filter
def words(value: str) -> str:
    """``mitigation_requested`` → ``mitigation requested``."""
    return str(value).replace("_", " ")

"""The one display library every page and Markdown template loads: ``{% load pitchey_format %}``.

Durations and moments are written by ``pitchey_incidents.timefmt``, so a page, a Markdown report and
the CLI say the same thing the same way.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html

from pitchey_incidents.outcome import STATUS_BADGES
from pitchey_incidents.timefmt import UNKNOWN, format_duration, format_timestamp

register = template.Library()


@register.filter
def duration(value: float | timedelta | None) -> str:
    """Seconds or a timedelta → ``1 h 5 min`` (``—`` when unknown)."""
    return format_duration(value)


@register.filter
def timestamp(value: datetime | str | None, precision: str = "") -> str:
    """A moment (or its ISO 8601 text, as stored in a JSON report) → ``2026-11-02 09:00 UTC``;
    ``|timestamp:"seconds"`` adds the seconds."""
    if isinstance(value, str):
        value = parse_datetime(value)
    return format_timestamp(value, seconds=precision == "seconds")


@register.simple_tag
def elapsed(start: datetime | None, end: datetime | None = None) -> str:
    """How long from ``start`` to ``end`` (or now)."""
    if start is None:
        return UNKNOWN
    return format_duration((end or timezone.now()) - start)


@register.simple_tag
def countdown(due: datetime | None, now: datetime | None = None) -> str:
    """``due in 4 min 12 s`` or ``OVERDUE by 1 min 5 s`` (the same words the page's ticker writes)."""
    if due is None:
        return UNKNOWN
    left = (due - (now or timezone.now())).total_seconds()
    return f"due in {format_duration(left)}" if left >= 0 else f"OVERDUE by {format_duration(left)}"


@register.filter
def percent(ratio: float | None) -> str:
    """0.5 → ``50 %`` (``—`` when unknown)."""
    return UNKNOWN if ratio is None else f"{ratio * 100:.0f} %"


# --- Markdown (templates that render Markdown turn autoescape off) -----------------------------------


@register.filter
def md_line(text: str) -> str:
    """Any run of whitespace, line breaks included, becomes one space: one list item stays one line."""
    return " ".join(str(text).split())


@register.filter
def md_cell(text: str) -> str:
    """Text for a Markdown table cell: one line, ``|`` escaped, at most 300 characters."""
    return md_line(text).replace("|", "\\|")[:300]


# Outcome badges: a distinct colour AND icon each, so they read without colour vision.


@register.simple_tag
def status_badge(status: str, label: str = "") -> str:
    """``{% status_badge run.status %}`` → a badge with an icon and a word: ✓ Succeeded, ✗ Failed, ? Inconclusive."""
    icon, word, tone = STATUS_BADGES.get(str(status), ("•", str(status).replace("_", " ").capitalize(), "neutral"))
    return format_html(
        '<span class="outcome outcome-{} outcome-{}" data-status="{}"><span aria-hidden="true">{}</span> {}</span>',
        tone, status, status, icon, label or word,
    )  # fmt: skip


@register.simple_tag
def now_stamp() -> str:
    """The current moment in the viewer's zone, as every page writes moments."""
    return format_timestamp(timezone.now())

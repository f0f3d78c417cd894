"""The product's one way to write a duration and a moment, for pages, Markdown, messages and the CLI.

- A duration is its two largest non-zero units, no zero padding, in whole seconds:
  ``45 s``, ``15 min``, ``1 h 5 min``, ``4 h``, ``1 d 3 h``, ``2 d``. The sign is dropped (callers say
  "overdue by" or "due in"); an unknown duration is ``—``.
- A moment is ``2026-11-02 09:00 UTC``: minutes (or seconds where asked), in the active time zone
  (the reader's own, see ``zones``; else the site's), with the zone's name.

``static/js/app.js`` writes live countdowns in the same words; keep the two in step.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.utils import timezone

UNKNOWN = "—"
UNITS = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))


def format_duration(value: float | timedelta | None) -> str:
    """Seconds (or a timedelta) → ``1 h 5 min``; ``—`` for ``None``; the sign is dropped."""
    if value is None or value == "":
        return UNKNOWN
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    rest = int(abs(seconds))  # whole seconds, as a clock shows them: 59.9 s is not yet a minute
    parts = []
    for unit, size in UNITS:
        amount, rest = divmod(rest, size)
        if amount:
            parts.append(f"{amount} {unit}")
    return " ".join(parts[:2]) or "0 s"


def format_timestamp(value: datetime | None, *, seconds: bool = False) -> str:
    """A moment → ``2026-11-02 09:00 UTC`` (``…09:00:07 UTC`` with ``seconds``); ``—`` for ``None``."""
    if value is None:
        return UNKNOWN
    if timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    local = timezone.localtime(value)
    pattern = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return f"{local.strftime(pattern)} {local.tzname()}"

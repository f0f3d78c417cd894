"""``{{ run.status|run_status }}``: a run's or drill's outcome as a word, an icon and a colour, the
same on every page (succeeded ✓ green, failed ✗ red, inconclusive ? amber)."""

from __future__ import annotations

from django import template
from django.utils.html import format_html

from ..models import STATUS_ICONS, RunStatus

register = template.Library()


@register.filter
def run_status(status: str) -> str:
    label = dict(RunStatus.choices).get(status, status)
    return format_html('<span class="status rstatus-{}">{} {}</span>', status, STATUS_ICONS.get(status, "·"), label)

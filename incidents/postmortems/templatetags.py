"""Formatting for the report pages: durations in words, ratios as percentages."""

from django import template

from incidents.postmortems.selectors import human_duration

register = template.Library()


@register.filter
def duration(seconds: float | None) -> str:
    return human_duration(seconds)


@register.filter
def percent(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio * 100:.0f} %"

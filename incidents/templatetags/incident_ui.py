"""Small template helpers for the incident pages (durations and moments: ``pitchey_format``)."""

from __future__ import annotations

import json

from django import template

register = template.Library()


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


@register.filter
def jsonify(value) -> str:
    """A request body as compact JSON (autoescaped like any other text)."""
    return json.dumps(value, separators=(", ", ": "), default=str)

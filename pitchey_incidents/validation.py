"""Checks services run on their inputs, raising ``DomainError`` that names the field at fault."""

from __future__ import annotations

from .errors import DomainError
from .text import strip_controls


def clean_text(value: object, field: str, *, max_length: int, required: bool = True) -> str:
    """Text, stripped of surrounding space and of control characters (``strip_controls``): ``None``
    reads as empty; refused when required and empty, or too long."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise DomainError("must be text", field=field)
    value = strip_controls(value).strip()
    if required and not value:
        raise DomainError("is required", field=field)
    if len(value) > max_length:
        raise DomainError(f"must be at most {max_length} characters", field=field)
    return value

"""Our own runtime flags (``READ_ONLY_MODE``, ``MAINTENANCE_MODE``) that the protected app polls."""

from __future__ import annotations

from django.db import transaction

from ..models import RuntimeFlag
from .base import Outcome, Provider, register

FLAGS = ("READ_ONLY_MODE", "MAINTENANCE_MODE")


@register
class Flags(Provider):
    name = "flags"
    label = "Runtime flags"
    idempotent = frozenset({"set"})

    def do_set(self, *, dry_run: bool, flag: str, enabled: bool) -> Outcome:

        if flag not in FLAGS:
            return Outcome(False, f"unknown flag {flag!r}")
        state = "on" if enabled else "off"
        if dry_run:
            return Outcome(True, f"would turn {flag} {state}")
        with transaction.atomic():
            RuntimeFlag.objects.update_or_create(name=flag, defaults={"enabled": bool(enabled)})
        return Outcome(True, f"{flag} is {state}", {"flag": flag, "enabled": bool(enabled)})

"""A system check, printed by ``bootstrap``, ``make run`` and every management command while an
escalation level would page nobody."""

from __future__ import annotations

from django.core.checks import Warning
from django.db import DatabaseError

from incidents.comms.oncall import unroutable_levels


def escalation_levels_reach_someone(app_configs=None, **kwargs) -> list[Warning]:
    try:
        empty = unroutable_levels()
    except DatabaseError:  # not migrated yet
        return []
    return [
        Warning(
            f"Escalation level {level.level} ({level.name}) pages nobody: an incident reaching it wakes no one.",
            hint="Add a person or a rotation with members to the level on /people/oncall/.",
            id="incidents.W001",
        )
        for level in empty
    ]

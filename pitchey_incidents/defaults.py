"""Role groups, created by a migration."""

from __future__ import annotations

from .roles import ROLES


def seed(apps) -> None:
    Group = apps.get_model("auth", "Group")
    for role in ROLES:
        Group.objects.get_or_create(name=role)

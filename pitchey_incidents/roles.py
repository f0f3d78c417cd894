"""Roles are Django groups (created by a migration), ordered: each includes those before it."""

from __future__ import annotations

ROLES = ("viewer", "responder", "commander", "admin")


def role_of(user: object) -> str | None:
    if not getattr(user, "is_authenticated", False):
        return None
    if user.is_superuser:
        return "admin"
    names = getattr(user, "_role_names", None)
    if names is None:
        names = set(user.groups.values_list("name", flat=True))
        user._role_names = names
    for role in reversed(ROLES):
        if role in names:
            return role
    return None


def remember_roles(user: object, names: set[str]) -> None:
    """Tell ``role_of`` the user's group names, read already (a list prefetches them for every row)."""
    user._role_names = names


def has_role(user: object, role: str) -> bool:
    mine = role_of(user)
    return mine is not None and ROLES.index(mine) >= ROLES.index(role)

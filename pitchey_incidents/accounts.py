"""People's accounts: the one way a role is given (``createuser``, the people API)."""

from __future__ import annotations

from django.contrib.auth.models import Group

from .roles import ROLES, remember_roles


def role_set(user, role: str) -> None:
    """Give ``user`` exactly one role; an admin is also staff and superuser (Django's admin site)."""
    user.is_staff = user.is_superuser = role == "admin"
    user.save(update_fields=["is_staff", "is_superuser"])
    user.groups.remove(*Group.objects.filter(name__in=ROLES))
    user.groups.add(Group.objects.get(name=role))
    remember_roles(user, {role})

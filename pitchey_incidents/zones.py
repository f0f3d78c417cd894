"""Whose time zone a moment is written in: the reader's own, a per-user setting (UTC unless chosen).

Pages get it from ``middleware.UserTimeZoneMiddleware``; the CLI from the acting user
(``cli.DomainCommand``: ``PITCHEY_ACTOR`` or the login name, when such a user exists); a Markdown
report from whoever downloads it; a page or handoff message from the person it goes to. Text meant
for the public or for customers, who have no setting, uses the site's zone (``TIME_ZONE``).
``timefmt.format_timestamp`` writes the active zone's name after every moment, so a reader always
sees which zone it is.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib.auth import get_user_model
from django.db import DatabaseError
from django.utils import timezone

from .models import UserPreference

# Where a signed-in person's zone is kept in their session (``middleware.UserTimeZoneMiddleware`` reads it).
TZ_SESSION_KEY = "time_zone"


def zone_of(user) -> ZoneInfo | None:
    """The person's chosen zone; None for no person, or one who chose none (the site's zone applies)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    try:
        name = UserPreference.objects.filter(user_id=user.pk).values_list("time_zone", flat=True).first()
        return ZoneInfo(name) if name else None
    except (DatabaseError, ZoneInfoNotFoundError, ValueError):  # a DR tool still prints while its database is down
        return None


@contextlib.contextmanager
def in_zone_of(user) -> Iterator[None]:
    """Moments written inside this block are in ``user``'s zone (the site's, when they chose none)."""
    zone = zone_of(user)
    with timezone.override(zone) if zone is not None else contextlib.nullcontext():
        yield


def user_named(username: str):
    """The user with this username, or None (also when the database cannot be reached)."""
    try:
        return get_user_model().objects.filter(username=username).first()
    except DatabaseError:
        return None


def remember_time_zone(sender, request, user, **kwargs) -> None:
    """At login: keep the person's time zone in the session (read by every later request)."""
    session = getattr(request, "session", None)
    if session is not None:
        pref = UserPreference.objects.filter(user_id=user.pk).values_list("time_zone", flat=True).first()
        session[TZ_SESSION_KEY] = pref or "UTC"

"""Who did something, as the timeline, the audit log and every ``requested_by`` column write it."""

from __future__ import annotations

from typing import Any

# Who acts: a User, or a name such as "system" or an integration's name (services take either).
Actor = Any


def actor_name(actor: Actor) -> str:
    """A user's username, a name as given (``"system"``, an integration's name), ``"system"`` for nobody."""
    if actor is None:
        return "system"
    if isinstance(actor, str):
        return actor
    return actor.get_username()

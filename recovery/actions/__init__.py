"""Mitigation actions: one small class each, looked up by name in ``REGISTRY``."""

from .base import REGISTRY, Action, Param, get_action

__all__ = ["ACTION_NAMES", "REGISTRY", "Action", "Param", "get_action"]


def __getattr__(name: str) -> list[str]:
    """``ACTION_NAMES``, the API's enum of them (a mitigation's `action`, an action's `name`), is
    computed when first asked for: listing them imports every action and its providers, which a
    process that never looks one up (a backup command, a worker's start) need not pay for."""
    if name == "ACTION_NAMES":
        return sorted(REGISTRY)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

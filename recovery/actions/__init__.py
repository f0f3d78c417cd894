"""Mitigation actions: one small class each, looked up by name in ``REGISTRY``."""

from .base import REGISTRY, Action, Param, get_action

__all__ = ["ACTION_NAMES", "REGISTRY", "Action", "Param", "get_action"]

# The API's enum of them (a mitigation's `action`, an action's `name`).
ACTION_NAMES = sorted(REGISTRY)

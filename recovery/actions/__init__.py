"""Mitigation actions: one small class each, looked up by name in ``REGISTRY``."""

from . import builtin  # noqa: F401,E402  (registers the actions)
from .base import REGISTRY, Action, ActionResult, Param, get_action  # noqa: F401

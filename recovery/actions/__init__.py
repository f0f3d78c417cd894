"""Mitigation actions: one small class each, looked up by name in ``REGISTRY``."""

from .base import REGISTRY, Action, Param, get_action

__all__ = ["REGISTRY", "Action", "Param", "get_action"]

"""Providers: one small class per system we act on, looked up by name in ``REGISTRY``.

A step or a mitigation names ``provider.action`` (``neon.restart_endpoint``); ``run_action`` runs it,
with a dry run that changes nothing, and returns an ``Outcome`` (ok, one-line output, data).
"""

from .base import REGISTRY, Provider, get_provider, parse_action, run_action

__all__ = ["REGISTRY", "Provider", "get_provider", "parse_action", "run_action"]

"""Providers: one small class per system we act on, looked up by name in ``REGISTRY``.

A step or a mitigation names ``provider.action`` (``neon.restart_endpoint``); ``run_action`` runs it,
with a dry run that changes nothing, and returns an ``Outcome`` (ok, one-line output, data).
"""

from . import backup, cloudflare, command, flags, http, neon, notify, postgres, probe, redis  # noqa: F401  (register)
from .base import REGISTRY, Outcome, Provider, get_provider, parse_action, run_action  # noqa: F401

"""Health probes of the protected platform: one small class per kind, looked up by kind."""

from . import backup_rpo, http, postgres, prometheus, redis  # noqa: F401  (registers the kinds)
from .base import REGISTRY, Outcome, ProbeCheck, get_check

__all__ = ["REGISTRY", "Outcome", "ProbeCheck", "get_check"]

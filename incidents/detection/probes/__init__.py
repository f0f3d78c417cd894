"""Health probes of the protected platform: one small class per kind, looked up by kind."""

from incidents.detection.probes import backup_rpo, http, postgres, prometheus, redis  # noqa: F401  (registers the kinds)
from incidents.detection.probes.base import REGISTRY, Outcome, ProbeCheck, get_check

__all__ = ["REGISTRY", "Outcome", "ProbeCheck", "get_check"]

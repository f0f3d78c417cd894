"""Health probes of the protected platform: one small class per kind, looked up by kind."""

from .base import REGISTRY, ProbeCheck, get_check

__all__ = ["REGISTRY", "ProbeCheck", "get_check"]

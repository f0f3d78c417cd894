"""Alert intake: one small parser per sender behind ``Intake``, looked up by kind."""

from .base import REGISTRY, Intake, ParsedAlert, get_intake

__all__ = ["REGISTRY", "Intake", "ParsedAlert", "get_intake"]

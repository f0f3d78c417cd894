"""Alert intake: one small parser per sender behind ``Intake``, looked up by kind."""

from incidents.detection.intake import alertmanager, generic, grafana  # noqa: F401  (registers the kinds)
from incidents.detection.intake.base import REGISTRY, Intake, ParsedAlert, get_intake

__all__ = ["REGISTRY", "Intake", "ParsedAlert", "get_intake"]

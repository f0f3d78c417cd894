from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import ClassVar

from pitchey_incidents.outcome import Outcome
from pitchey_incidents.registry import Registry

from ..models import Probe, ProbeStatus


class ProbeCheck(ABC):
    """Runs one probe against its target; never raises for a failing target (that is the finding)."""

    kind: ClassVar[str]

    def run(self, probe: Probe, overrides: dict | None = None) -> Outcome:
        try:
            return self.check(probe, {**(probe.config or {}), **(overrides or {})})
        except Exception as exc:  # an unreachable target is a finding, not a crash
            return Outcome.graded(ProbeStatus.DOWN, describe_error(exc))

    @abstractmethod
    def check(self, probe: Probe, config: dict) -> Outcome: ...


REGISTRY: Registry[ProbeCheck] = Registry(
    "probe kind",
    key="kind",
    field="kind",
    package=__package__,
    modules=("backup_rpo", "cloudflare", "http", "postgres", "prometheus", "redis"),
)
register = REGISTRY.register


def get_check(kind: str) -> ProbeCheck:
    return REGISTRY[kind]


def describe_error(exc: Exception) -> str:
    """First line of an error, without anything that looks like a URL with credentials."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    words = ["<url>" if "://" in w else w for w in text.split()]
    return f"{exc.__class__.__name__}: {' '.join(words)}"[:400]


def thresholds(value: float | None, *, maximum: float | None = None, minimum: float | None = None) -> bool:
    """True when ``value`` is within the limits (an unknown value is within them)."""
    if value is None:
        return True
    if maximum is not None and value > maximum:
        return False
    return not (minimum is not None and value < minimum)


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.ms = (time.perf_counter() - self.start) * 1000

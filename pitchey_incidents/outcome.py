"""The one result type of every plug-in family: what a probe found, a provider or an action did."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

OK, DEGRADED, DOWN, SKIPPED, FAILED = "ok", "degraded", "down", "skipped", "failed"


@dataclass(frozen=True)
class Outcome:
    """``ok``: it worked (a probe: the target is healthy). ``output``: one line for people. ``data``:
    ids and numbers for machines (a probe's measurements). ``skipped``: not configured here, so nothing
    was done or measured. ``status`` grades it in one word: ok, failed or skipped, or for a probe's
    finding ok, degraded, down or skipped (``Outcome.graded``). ``latency_ms``: the measured call's."""

    ok: bool
    output: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    skipped: bool = False
    status: str = ""
    latency_ms: float | None = None

    def __post_init__(self) -> None:
        if not self.status:
            object.__setattr__(self, "status", SKIPPED if self.skipped else OK if self.ok else FAILED)

    @classmethod
    def graded(
        cls, status: str, output: str, latency_ms: float | None = None, data: dict[str, Any] | None = None
    ) -> Outcome:
        """A health finding: ``status`` is ok, degraded, down or skipped; only ok is ``ok``."""
        return cls(status == OK, output, data or {}, status == SKIPPED, str(status), latency_ms)


# How every page and report shows a status: icon, word and tone (the CSS class `outcome-<tone>`).
STATUS_BADGES = {
    "succeeded": ("✓", "Succeeded", "ok"),
    "failed": ("✗", "Failed", "bad"),
    "needs_attention": ("?", "Inconclusive", "unsure"),
    "inconclusive": ("?", "Inconclusive", "unsure"),
    "cancelled": ("⊘", "Cancelled", "unsure"),
    "skipped": ("–", "Skipped", "neutral"),
    "running": ("⟳", "Running", "busy"),
    "queued": ("…", "Queued", "neutral"),
    "pending": ("…", "Pending", "neutral"),
}

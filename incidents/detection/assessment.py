"""Running a probe and assessing its finding against the rules (used by detection and by chains)."""

from __future__ import annotations

from incidents.detection.models import AssessmentRule, Probe, ProbeResult, ProbeStatus, RuleOp
from incidents.detection.probes import get_check
from pitchey_incidents import events
from pitchey_incidents.outcome import Outcome


def probe_run(probe: Probe, *, overrides: dict | None = None) -> tuple[Outcome, ProbeResult | None]:
    """Run one probe and keep its result (a skipped probe leaves no history). ``overrides`` change its
    config for this run (``since``: the start of an HTTP probe's sample window)."""
    outcome = get_check(probe.kind).run(probe, overrides)
    if outcome.status == ProbeStatus.SKIPPED:
        return outcome, None
    previous = ProbeResult.objects.filter(probe=probe).order_by("-at", "-id").values_list("status", flat=True).first()
    result = ProbeResult.objects.create(
        probe=probe,
        status=outcome.status,
        latency_ms=outcome.latency_ms,
        metrics=outcome.data,
        detail=outcome.output[:500],
    )
    if previous != outcome.status:  # wakes the dashboard's service board
        events.emit(
            "health.changed",
            f"probe:{probe.id}",
            {"probe": probe.name, "service": probe.service.slug, "from": previous, "to": outcome.status},
        )
    return outcome, result


def rule_matches(rule: AssessmentRule, probe: Probe, outcome: Outcome) -> bool:
    if rule.probe_kind != probe.kind or (rule.probe_name and rule.probe_name != probe.name):
        return False
    if rule.op == RuleOp.DOWN:
        return outcome.status == ProbeStatus.DOWN
    value = outcome.data.get(rule.metric)
    if value is None or rule.threshold is None:
        return False
    return value > rule.threshold if rule.op == RuleOp.GT else value < rule.threshold


def assess(probe: Probe, outcome: Outcome, rules: list[AssessmentRule]) -> AssessmentRule | None:
    """The most severe rule this finding matches (rules come ordered P0 first)."""
    return next((r for r in rules if rule_matches(r, probe, outcome)), None)

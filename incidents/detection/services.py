"""Probes and automated assessment: the runbook's ``incident-response.sh detect``.

``detection_run`` runs every enabled probe, keeps the results as history, and for each finding
that an assessment rule matches: opens (or updates) the rule's incident for the service, applies
the rule's mitigation, re-checks, and resolves the incident or escalates it — all on the timeline
with actor ``system``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from incidents.detection.models import AssessmentRule, DetectionCase, Probe, ProbeKind, ProbeResult, ProbeStatus, RuleOp
from incidents.detection.probes import get_check
from incidents.lifecycle import services
from incidents.lifecycle.models import Incident, MitigationStatus, Source, Status
from pitchey_incidents import events
from pitchey_incidents.errors import InvalidTransition
from pitchey_incidents.outcome import Outcome
from recovery.models import Service

ACTOR = "system"


@dataclass
class Check:
    check: str
    label: str
    service: str
    status: str
    detail: str
    metrics: dict = field(default_factory=dict)
    latency_ms: float | None = None
    at: str = ""


@dataclass
class Issue:
    rule: str
    severity: str
    service: str
    check: str
    detail: str
    incident: str
    new: bool
    action: str = ""
    mitigation: str = ""  # succeeded | failed
    mitigation_output: str = ""
    outcome: str = "open"  # open | resolved | escalated


@dataclass
class Report:
    ok: bool
    checks: list[Check]
    issues: list[Issue]
    at: str

    def as_dict(self) -> dict:
        return asdict(self)


# --- probes ---------------------------------------------------------------------------------------


def probes_sync_http() -> None:
    """Make an HTTP probe exist for each of ``SERVICE_HEALTH_URLS`` (``service=url;…``)."""
    for slug, url in getattr(settings, "SERVICE_HEALTH_URLS", {}).items():
        service = Service.objects.filter(slug=slug).first()
        if service is None:
            continue
        probe, created = Probe.objects.get_or_create(
            name=f"http-{slug}",
            defaults={
                "label": f"{service.name} health",
                "kind": ProbeKind.HTTP,
                "service": service,
                "config": {"url": url},
            },
        )
        if not created and probe.config.get("url") != url:
            probe.config = {**probe.config, "url": url}
            probe.save(update_fields=["config"])


def probe_run(probe: Probe) -> tuple[Outcome, ProbeResult | None]:
    """Run one probe and keep its result (a skipped probe leaves no history)."""
    outcome = get_check(probe.kind).run(probe)
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


def probe_results_prune(*, keep_days: int | None = None) -> int:
    keep_days = settings.PROBE_HISTORY_DAYS if keep_days is None else keep_days
    deleted, _ = ProbeResult.objects.filter(at__lt=timezone.now() - timedelta(days=keep_days)).delete()
    return deleted


# --- assessment -----------------------------------------------------------------------------------


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


def _open_case(rule: AssessmentRule, probe: Probe, outcome: Outcome) -> tuple[DetectionCase, bool]:
    """The rule's open incident for the probe's service, updated; or a new one."""
    with transaction.atomic():
        AssessmentRule.objects.select_for_update().filter(id=rule.id).first()  # serialises concurrent runs
        case = (
            DetectionCase.objects.select_related("incident")
            .filter(rule=rule, service_id=probe.service_id, open=True)
            .first()
        )
        if case is not None and case.incident.is_open:
            DetectionCase.objects.filter(id=case.id).update(last_seen=timezone.now(), hits=case.hits + 1)
            return case, False
        if case is not None:
            DetectionCase.objects.filter(id=case.id).update(open=False)
        incident = services.incident_declare(
            severity=rule.severity,
            title=f"{rule.name} ({probe.service.name})",
            description=f"Automated detection: {probe.label}: {outcome.output}",
            services=[probe.service.slug],
            actor=ACTOR,
            source=Source.PROBE,
            detected_at=timezone.now(),
        )
        case = DetectionCase.objects.create(rule=rule, service_id=probe.service_id, incident=incident)
        return case, True


def _mitigate(rule: AssessmentRule, probe: Probe, incident: Incident, issue: Issue, rules) -> Outcome | None:
    """Apply the rule's mitigation here and now, re-check the probe, resolve or escalate."""
    mitigation = services.mitigation_start(
        incident=incident, action=rule.action, params=rule.action_params or {}, actor=ACTOR, inline=True
    )
    # Inline runs on commit; inside a caller's transaction that is later, so run it now (the claim
    # makes whichever comes second a no-op).
    services.mitigation_execute(mitigation_id=mitigation.id)
    mitigation.refresh_from_db()
    issue.mitigation, issue.mitigation_output = mitigation.status, mitigation.output[:500]
    recheck, _ = probe_run(probe)
    still = assess(probe, recheck, rules)
    if mitigation.status == MitigationStatus.SUCCEEDED and still is None and recheck.status == ProbeStatus.OK:
        services.incident_resolve(incident=incident, resolution="Automated mitigation successful", actor=ACTOR)
        DetectionCase.objects.filter(incident=incident).update(open=False)
        issue.outcome = "resolved"
    else:
        reason = f"automated mitigation {rule.action} {mitigation.status}; re-check: {recheck.output}"
        try:
            services.incident_escalate(incident=incident, actor=ACTOR, reason=reason[:500])
        except InvalidTransition as exc:
            services.incident_note(incident=incident, actor=ACTOR, message=f"Not escalated: {exc.message}")
        issue.outcome = "escalated"
    return recheck


def _cleared(probe: Probe, outcome: Outcome) -> None:
    """A check passes again: open probe incidents for it move to monitoring (a human resolves)."""
    cases = DetectionCase.objects.select_related("incident", "rule").filter(
        open=True,
        service_id=probe.service_id,
        rule__probe_kind=probe.kind,
        incident__status__in=[Status.TRIGGERED, Status.ACKNOWLEDGED, Status.MITIGATING],
    )
    for case in cases:
        if case.rule.probe_name and case.rule.probe_name != probe.name:
            continue
        try:
            services.incident_monitor(
                incident=case.incident, actor=ACTOR, message=f"{probe.label} passes again: {outcome.output}"
            )
        except InvalidTransition:
            pass


def detection_run(*, mitigate: bool = True, probes: list[Probe] | None = None) -> Report:
    """Run the probes, assess the findings, act on them; return what was found and done."""
    probes_sync_http()
    probes = probes if probes is not None else list(Probe.objects.filter(enabled=True).select_related("service"))
    rules = list(AssessmentRule.objects.filter(enabled=True).order_by("severity", "id"))
    checks, issues = [], []
    for probe in probes:
        outcome, result = probe_run(probe)
        rule = assess(probe, outcome, rules) if outcome.status != ProbeStatus.SKIPPED else None
        if rule is None:
            if outcome.status == ProbeStatus.OK:
                _cleared(probe, outcome)
            checks.append(_check(probe, outcome))
            continue
        case, new = _open_case(rule, probe, outcome)
        issue = Issue(
            rule=rule.name,
            severity=rule.severity,
            service=probe.service.slug,
            check=probe.name,
            detail=outcome.output,
            incident=case.incident.public_id,
            new=new,
            action=rule.action,
        )
        if new and rule.action and mitigate:
            outcome = _mitigate(rule, probe, case.incident, issue, rules) or outcome
        checks.append(_check(probe, outcome))
        issues.append(issue)
    ok = all(c.status in (ProbeStatus.OK, ProbeStatus.SKIPPED) for c in checks) and all(
        i.outcome == "resolved" for i in issues
    )
    return Report(ok=ok, checks=checks, issues=issues, at=timezone.now().isoformat())


def _check(probe: Probe, outcome: Outcome) -> Check:
    return Check(
        check=probe.name,
        label=probe.label,
        service=probe.service.slug,
        status=outcome.status,
        detail=outcome.output,
        metrics=outcome.data,
        latency_ms=outcome.latency_ms,
        at=timezone.now().isoformat(),
    )


ICONS = {ProbeStatus.OK: "✅", ProbeStatus.DEGRADED: "⚠️", ProbeStatus.DOWN: "❌", ProbeStatus.SKIPPED: "⏭️"}


def report_lines(report: Report) -> list[str]:
    """The runbook's style: one line per check, then what was detected and done."""
    lines = [f"{ICONS.get(c.status, '•')} Checking {c.label}... {c.detail}" for c in report.checks]
    for i in report.issues:
        lines.append(
            f"🚨 Issue detected: {i.rule} ({i.service}: {i.detail}) → {i.incident} {i.severity}"
            + ("" if i.new else " (already open)")
        )
        if i.mitigation:
            lines.append(f"🔧 Applying automated mitigation... {i.action}: {i.mitigation}")
            if i.outcome == "resolved":
                lines.append("✅ Issue resolved")
            else:
                lines.append(f"⬆️ Issue persists: {i.incident} escalated")
        elif i.new:
            lines.append(f"📟 {i.incident} opened; no automated mitigation for this finding")
    skipped = sum(c.status == ProbeStatus.SKIPPED for c in report.checks)
    if report.ok:
        lines.append(
            ("✅ All issues resolved" if report.issues else "✅ All checks passed")
            + (f" ({skipped} not configured)" if skipped else "")
        )
    return lines

"""Probes and automated assessment: the runbook's ``incident-response.sh detect``.

``detection_run`` runs every enabled probe, keeps the results as history, and for each finding
that an assessment rule matches: opens (or updates) the rule's incident for the service and starts
the rule's automated chain (``chains``): each step verified, then resolve, the next step, or escalate
— all on the timeline with actor ``system``. Beat runs chains on the workers; the CLI runs them here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from incidents.detection import chains
from incidents.detection.assessment import assess, probe_run, rule_matches
from incidents.detection.models import (
    AssessmentRule,
    ChainState,
    DetectionCase,
    Probe,
    ProbeKind,
    ProbeResult,
    ProbeStatus,
)
from incidents.detection.probes.http import health_sample, samples_prune
from incidents.lifecycle import services
from incidents.lifecycle.models import OPEN_STATUSES, Mitigation, Source, Status
from pitchey_incidents.errors import InvalidTransition
from pitchey_incidents.outcome import Outcome
from recovery.models import Service

__all__ = ["assess", "detect_finding", "detection_run", "probe_run", "report_lines", "rule_matches"]

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
    action: str = ""  # the chain's first action (kept for clients of the single-action days)
    mitigation: str = ""  # the last mitigation's status: succeeded | failed
    chain: list[str] = field(default_factory=list)
    mitigations: list[dict] = field(default_factory=list)  # [{action, status, output}] in order
    outcome: str = "open"  # open | mitigating (on the workers) | resolved | escalated


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


def probe_results_prune(*, keep_days: int | None = None) -> int:
    """Drop probe history past ``PROBE_HISTORY_DAYS`` and health samples past ``HEALTH_SAMPLE_KEEP_S``."""
    keep_days = settings.PROBE_HISTORY_DAYS if keep_days is None else keep_days
    deleted, _ = ProbeResult.objects.filter(at__lt=timezone.now() - timedelta(days=keep_days)).delete()
    return deleted + samples_prune(keep=timedelta(seconds=settings.HEALTH_SAMPLE_KEEP_S))


def health_sample_all() -> int:
    """Beat's cadence: one sample of every enabled health endpoint (``SERVICE_HEALTH_URLS``)."""
    probes_sync_http()
    probes = list(Probe.objects.filter(enabled=True, kind=ProbeKind.HTTP))
    for probe in probes:
        if (probe.config or {}).get("url"):
            health_sample(probe)
    return len(probes)


# --- assessment -----------------------------------------------------------------------------------


def _open_case(rule: AssessmentRule, probe: Probe, outcome: Outcome) -> tuple[DetectionCase, bool]:
    """The rule's open incident for the probe's service, updated; or the open incident another rule with
    the same chain opened from this probe (one finding, one remedy, one incident: a 5xx storm is "down"
    and "high error rate"); or a new one."""
    with transaction.atomic():
        AssessmentRule.objects.select_for_update().filter(id=rule.id).first()  # serialises concurrent runs
        case = (
            DetectionCase.objects.select_related("incident")
            .filter(rule=rule, service_id=probe.service_id, open=True)
            .first()
        )
        sibling = (
            DetectionCase.objects.select_related("incident", "rule")
            .filter(probe=probe, open=True, incident__status__in=OPEN_STATUSES)
            .exclude(rule=rule)
            .first()
        )
        if (case is None or not case.incident.is_open) and sibling is not None and rule.chain:
            if sibling.rule.chain == rule.chain:  # the same remedy for the same probe: the same incident
                case = sibling
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
        case = DetectionCase.objects.create(rule=rule, service_id=probe.service_id, incident=incident, probe=probe)
        return case, True


def _window_start(probe: Probe) -> dict:
    """An HTTP probe's window starts no earlier than the verify that resolved its last chain: the
    errors the chain mitigated are not found again."""
    if probe.kind != ProbeKind.HTTP:
        return {}
    window = timedelta(seconds=float((probe.config or {}).get("window_s", 300)))
    resolved = (
        DetectionCase.objects.filter(probe=probe, chain_state=ChainState.RESOLVED, chain_verify_from__isnull=False)
        .order_by("-chain_verify_from")
        .values_list("chain_verify_from", flat=True)
        .first()
    )
    start = timezone.now() - window
    return {"since": max(start, resolved)} if resolved else {}


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


def detection_run(*, mitigate: bool = True, probes: list[Probe] | None = None, inline: bool = True) -> Report:
    """Run the probes, assess the findings, act on them; return what was found and done.

    A new incident's chain runs here and now when ``inline`` (the CLI), else on the workers (beat, API)."""
    probes_sync_http()
    probes = probes if probes is not None else list(Probe.objects.filter(enabled=True).select_related("service"))
    rules = list(AssessmentRule.objects.filter(enabled=True).order_by("severity", "id"))
    checks, issues = [], []
    for probe in probes:
        outcome, _ = probe_run(probe, overrides=_window_start(probe))
        rule = assess(probe, outcome, rules) if outcome.status != ProbeStatus.SKIPPED else None
        if rule is None:
            if outcome.status == ProbeStatus.OK:
                _cleared(probe, outcome)
            checks.append(_check(probe, outcome))
            continue
        issue, outcome = detect_finding(rule, probe, outcome, mitigate=mitigate, inline=inline)
        checks.append(_check(probe, outcome))
        issues.append(issue)
    ok = all(c.status in (ProbeStatus.OK, ProbeStatus.SKIPPED) for c in checks) and all(
        i.outcome == "resolved" for i in issues
    )
    return Report(ok=ok, checks=checks, issues=issues, at=timezone.now().isoformat())


def detect_finding(
    rule: AssessmentRule,
    probe: Probe,
    outcome: Outcome,
    *,
    mitigate: bool = True,
    inline: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[Issue, Outcome]:
    """A finding ``rule`` matched: open (or update) its incident and start the rule's chain on a new one.
    Returns the issue and the probe's latest result (the last verify's, once a chain ran here)."""
    case, new = _open_case(rule, probe, outcome)
    issue = Issue(
        rule=rule.name,
        severity=rule.severity,
        service=probe.service.slug,
        check=probe.name,
        detail=outcome.output,
        incident=case.incident.public_id,
        new=new,
        action=(rule.actions or [""])[0],
        chain=rule.actions,
    )
    if new and rule.chain and mitigate:
        case = chains.chain_begin(case, inline=inline, sleep=sleep)
        outcome = _chain_report(case, issue) or outcome
    return issue, outcome


def _chain_report(case: DetectionCase, issue: Issue) -> Outcome | None:
    """Fill the issue with what the chain did; the last verify's result replaces the first finding."""
    done = Mitigation.objects.filter(incident_id=case.incident_id).order_by("id")
    issue.mitigations = [{"action": m.action, "status": m.status, "output": m.output[:500]} for m in done]
    issue.mitigation = issue.mitigations[-1]["status"] if issue.mitigations else ""
    states = {ChainState.RESOLVED: "resolved", ChainState.ESCALATED: "escalated", ChainState.STOPPED: "open"}
    issue.outcome = states.get(case.chain_state, "mitigating")
    if case.probe_id is None or case.chain_state not in (ChainState.RESOLVED, ChainState.ESCALATED):
        return None
    last = ProbeResult.objects.filter(probe_id=case.probe_id).order_by("-at", "-id").first()
    if last is None:
        return None
    return Outcome.graded(last.status, last.detail, last.latency_ms, last.metrics)


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
        for m in i.mitigations:
            lines.append(f"🔧 Applying automated mitigation... {m['action']}: {m['status']}")
        if i.outcome == "resolved":
            lines.append("✅ Issue resolved")
        elif i.outcome == "escalated":
            lines.append(f"⬆️ Issue persists: {i.incident} escalated")
        elif i.outcome == "mitigating":
            lines.append(f"🔧 {i.incident}: automated chain running on the workers ({' → '.join(i.chain)})")
        elif i.new:
            lines.append(f"📟 {i.incident} opened; no automated mitigation for this finding")
    skipped = sum(c.status == ProbeStatus.SKIPPED for c in report.checks)
    if report.ok:
        lines.append(
            ("✅ All issues resolved" if report.issues else "✅ All checks passed")
            + (f" ({skipped} not configured)" if skipped else "")
        )
    return lines

"""A rule's automated chain, step by step: mitigate → settle → verify → resolve, or the next step;
past the last step, escalate. Everything lands on the incident's timeline (actor ``system``).

The ``DetectionCase`` row is the truth: its state, step, mitigation and due time. Each advance claims
the row with a lease (a conditional UPDATE), so a doubled message does nothing and a worker killed
mid-step leaves a lease that expires; ``chains_sweep`` (beat) then hands the case to another worker,
which resumes where the row says (a mitigation already requested is not requested again)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from incidents.detection import tasks
from incidents.detection.assessment import assess, probe_run
from incidents.detection.models import AssessmentRule, ChainState, DetectionCase, Probe, ProbeStatus
from incidents.lifecycle import services
from incidents.lifecycle.models import Mitigation, MitigationStatus
from pitchey_incidents import jobs
from pitchey_incidents.errors import InvalidTransition
from pitchey_incidents.outcome import Outcome
from recovery.actions import get_action

ACTOR = "system"
ACTIVE = (ChainState.MITIGATING, ChainState.SETTLING)


def _note(case: DetectionCase, message: str, **data) -> None:
    services.incident_note(
        incident=case.incident_id,
        actor=ACTOR,
        kind="automation",
        message=message[:5000],
        data={"case": case.id, **data},
    )


def _update(case: DetectionCase, **fields) -> None:
    """Write the case's next state and give up the lease."""
    DetectionCase.objects.filter(id=case.id).update(chain_lease_until=None, **fields)
    for name, value in fields.items():
        setattr(case, name, value)


def _send(case_id: int, *, inline: bool, countdown: float | None = None) -> None:
    if not inline:
        jobs.dispatch(tasks.detection_chain_advance, case_id, countdown=countdown)


def chain_begin(case: DetectionCase, *, inline: bool, sleep: Callable[[float], None] = time.sleep) -> DetectionCase:
    """Start the rule's chain on a new case: here and now (``inline``) or on the workers."""
    chain = case.rule.chain or []
    started = DetectionCase.objects.filter(id=case.id, chain_state=ChainState.NONE).update(
        chain_state=ChainState.MITIGATING, chain_step=0, chain_due_at=timezone.now()
    )
    if not started:
        return case
    steps = " → ".join(step["action"] for step in chain)
    _note(case, f"Automated chain started: {steps}, each verified after {case.rule.settle_s} s", chain=chain)
    if inline:
        return chain_run_inline(case.id, sleep=sleep)
    _send(case.id, inline=False)
    return DetectionCase.objects.get(id=case.id)


def chain_run_inline(case_id: int, *, sleep: Callable[[float], None] = time.sleep) -> DetectionCase:
    """Run the chain to its end in this process, waiting out each settle time."""
    while True:
        case = DetectionCase.objects.get(id=case_id)
        if case.chain_state not in ACTIVE:
            return case
        wait = (case.chain_due_at - timezone.now()).total_seconds() if case.chain_due_at else 0
        if wait > 0:
            sleep(wait)
        chain_advance(case_id, inline=True)


def _claim(case_id: int, *, inline: bool) -> bool:
    now = timezone.now()
    due = Q() if inline else Q(chain_due_at__lte=now)  # inline has waited itself
    return bool(
        DetectionCase.objects.filter(due, id=case_id, chain_state__in=ACTIVE)
        .filter(Q(chain_lease_until__isnull=True) | Q(chain_lease_until__lt=now))
        .update(chain_lease_until=now + timedelta(seconds=settings.DETECTION_CHAIN_LEASE_S))
    )


def chain_advance(case_id: int, *, inline: bool = False) -> str:
    """Do the case's next due thing (run a step, or verify one); a no-op when it is not due or held."""
    if not _claim(case_id, inline=inline):
        return "not due"
    case = DetectionCase.objects.select_related("rule", "incident", "probe", "service").get(id=case_id)
    if not case.incident.is_open:
        _update(case, chain_state=ChainState.STOPPED, open=False)
        return "stopped"
    if case.chain_state == ChainState.MITIGATING:
        return _step(case, inline=inline)
    return _verify(case, inline=inline)


def _why_skipped(step: dict) -> str:
    other = step.get("only_if_unavailable")
    if other and get_action(other).available()[0]:
        return f"not needed: {other} is available"
    ok, why = get_action(step["action"]).available()
    return "" if ok else f"not configured: {why}"


def _step(case: DetectionCase, *, inline: bool) -> str:
    chain, position = case.rule.chain or [], case.chain_step
    if position >= len(chain):
        return _exhausted(case)
    step = chain[position]
    label = f"Step {position + 1}/{len(chain)} {step['action']}"
    skipped = _why_skipped(step) if case.chain_mitigation_id is None else ""
    if skipped:
        _note(case, f"{label} skipped: {skipped}", step=position, action=step["action"])
        return _next(case, inline=inline)
    mitigation = _mitigation(case, step)
    if mitigation.status == MitigationStatus.RUNNING:  # its worker died mid-action: let verify decide
        _note(case, f"{label}: its worker was lost while it ran; verifying what it did", step=position)
    elif mitigation.status != MitigationStatus.SUCCEEDED:
        _note(case, f"{label} failed; going on", step=position, action=step["action"])
        return _next(case, inline=inline)
    settle = case.rule.settle_s
    now = timezone.now()
    _update(case, chain_state=ChainState.SETTLING, chain_due_at=now + timedelta(seconds=settle), chain_verify_from=now)
    _note(case, f"{label} done; verifying in {settle} s", step=position, action=step["action"])
    _send(case.id, inline=inline, countdown=settle)
    return "settling"


def _mitigation(case: DetectionCase, step: dict) -> Mitigation:
    """The step's mitigation: requested once (kept on the case), run here unless it already ran."""
    mitigation = case.chain_mitigation
    if mitigation is None:
        with transaction.atomic():
            mitigation = services.mitigation_start(
                incident=case.incident_id,
                action=step["action"],
                params=step.get("params") or {},
                actor=ACTOR,
                dry_run=bool(step.get("dry_run")),
                inline=True,
            )
            DetectionCase.objects.filter(id=case.id).update(chain_mitigation=mitigation)
    services.mitigation_execute(mitigation_id=mitigation.id)  # a no-op when it already ran
    mitigation.refresh_from_db()
    case.chain_mitigation = mitigation
    return mitigation


def _next(case: DetectionCase, *, inline: bool) -> str:
    if case.chain_step + 1 >= len(case.rule.chain or []):
        return _exhausted(case)
    _update(
        case,
        chain_state=ChainState.MITIGATING,
        chain_step=case.chain_step + 1,
        chain_mitigation=None,
        chain_due_at=timezone.now(),
    )
    _send(case.id, inline=inline)
    return "next"


def _exhausted(case: DetectionCase) -> str:
    reason = f"automated chain exhausted ({' → '.join(case.rule.actions)}); the finding persists"
    try:
        services.incident_escalate(incident=case.incident_id, actor=ACTOR, reason=reason)
    except InvalidTransition as exc:
        _note(case, f"Not escalated: {exc.message}")
    _update(case, chain_state=ChainState.ESCALATED)
    return "escalated"


def case_probe(case: DetectionCase) -> Probe | None:
    if case.probe is not None:
        return case.probe
    probes = Probe.objects.filter(service_id=case.service_id, kind=case.rule.probe_kind, enabled=True)
    return probes.filter(name=case.rule.probe_name).first() if case.rule.probe_name else probes.first()


def _verify(case: DetectionCase, *, inline: bool) -> str:
    """Re-sample the rule's probe (health samples since the step finished): resolve, or go on."""
    probe = case_probe(case)
    if probe is None:
        _note(case, "Verify: the rule's probe is gone; going on")
        return _next(case, inline=inline)
    outcome, _ = probe_run(probe, overrides={"since": case.chain_verify_from})
    rules = list(AssessmentRule.objects.filter(enabled=True).order_by("severity", "id"))
    still = assess(probe, outcome, rules)
    action = (case.rule.chain or [{}])[case.chain_step].get("action", "")
    if still is None and outcome.status == ProbeStatus.OK:
        return _resolved(case, action, outcome)
    _note(case, f"Verify after {action}: {probe.label} still failing: {outcome.output}", metrics=outcome.data)
    return _next(case, inline=inline)


def _resolved(case: DetectionCase, action: str, outcome: Outcome) -> str:
    _note(case, f"Verify after {action}: {outcome.output}", metrics=outcome.data)
    try:
        services.incident_resolve(incident=case.incident_id, resolution="Automated mitigation successful", actor=ACTOR)
    except InvalidTransition as exc:
        _note(case, f"Not resolved: {exc.message}")
    _update(case, chain_state=ChainState.RESOLVED, open=False)
    return "resolved"


def chains_sweep() -> dict:
    """Hand due chains to a worker: a lost message, or a worker killed mid-step (its lease expired)."""
    now = timezone.now()
    due = list(
        DetectionCase.objects.filter(chain_state__in=ACTIVE, chain_due_at__lte=now)
        .filter(Q(chain_lease_until__isnull=True) | Q(chain_lease_until__lt=now))
        .values_list("id", flat=True)[:500]
    )
    for case_id in due:
        jobs.send(tasks.detection_chain_advance, case_id)
    return {"dispatched": len(due)}

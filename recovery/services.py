"""Recovery runs and drills: every write happens here.

A run copies its plan's steps into ``RunStep`` rows at creation, then a task executes them in order:

1. claim the run with a conditional UPDATE (a lease, so two workers never run it at once);
2. for each step not yet finished: claim it (``pending → running``, recorded before acting), act
   through a provider, run its verification probe, record the outcome (``running → done``);
3. a step found ``running`` (its worker died) is retried only if its action is idempotent, otherwise
   marked ``needs_attention`` and handled as a failure;
4. measure RTO/RPO against the targets copied in at creation, build the report, finish.

Recovery never imports incidents: step changes go out through the event log and ``signals``.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from backups.models import DataType
from pitchey_incidents import events, jobs
from pitchey_incidents.actors import actor_name
from pitchey_incidents.errors import DomainError, InvalidTransition
from pitchey_incidents.outcome import Outcome

from . import defaults, hooks, signals, tasks
from .models import (
    Objective,
    OnFailure,
    PlanStep,
    RecoveryPlan,
    RecoveryRun,
    RunKind,
    RunStatus,
    RunStep,
    Service,
    StepStatus,
)
from .providers import REGISTRY, parse_action
from .reports import build_report

log = logging.getLogger(__name__)
DONE = (StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED, StepStatus.NEEDS_ATTENTION)
SPECIAL = ("verify", "report.generate")


# --- creating a run -------------------------------------------------------------------------------


def _recovery_order() -> list[str]:
    order = list(Service.objects.order_by("recovery_order", "priority", "slug").values_list("slug", flat=True))
    return order or list(defaults.DEFAULT_RECOVERY_ORDER)


def _step_rows(plan: RecoveryPlan, prefix: str = "") -> list[dict]:
    """The plan's steps as RunStep fields, with ``include.*`` expanded and names prefixed."""

    def ref(name: str) -> str:
        return f"{prefix}{name}" if name else ""

    def params(raw: dict) -> dict:
        return {k: f"${prefix}{v[1:]}" if isinstance(v, str) and v.startswith("$") else v for k, v in raw.items()}

    rows: list[dict] = []
    for step in plan.steps.all():
        if step.action.startswith("include."):
            wanted = step.action.split(".", 1)[1]
            slugs = _recovery_order() if wanted == "services" else [wanted]
            plans = {
                p.slug: p for p in RecoveryPlan.objects.filter(slug__in=slugs, is_drill=False).prefetch_related("steps")
            }
            for slug in slugs:
                if slug in plans and slug != plan.slug:
                    rows.extend(_step_rows(plans[slug], prefix=f"{prefix}{slug}."))
            continue
        rows.append(
            {
                "name": ref(step.name),
                "title": step.title,
                "service": step.service,
                "action": step.action,
                "params": params(step.params),
                "on_failure": step.on_failure,
                "fallback": ref(step.fallback),
                "only_as_fallback": step.only_as_fallback,
                "requires": ref(step.requires),
                "always": step.always,
                "verify_action": step.verify_action,
                "verify_params": step.verify_params,
                "idempotent": _idempotent(step.action),
            }
        )
    return rows


def _idempotent(action: str) -> bool:
    if action in SPECIAL:
        return True
    provider, _, name = action.partition(".")
    return name in getattr(REGISTRY.get(provider), "idempotent", ())


def validate_plan(plan: RecoveryPlan) -> None:
    for step in plan.steps.all():
        if step.action not in SPECIAL and not step.action.startswith("include."):
            parse_action(step.action, field_name=f"steps.{step.name}.action")
        if step.verify_action:
            parse_action(step.verify_action, field_name=f"steps.{step.name}.verify_action")


def _rto_targets(services: list[str]) -> list[dict]:
    found = {s.slug: s for s in Service.objects.filter(slug__in=services)}
    return [
        {"subject": s, "name": found[s].name, "target_s": found[s].rto_target_s, "max_s": found[s].rto_max_s}
        for s in services
        if s in found
    ]


def run_start(
    *,
    plan: str,
    actor: object,
    dry_run: bool = False,
    incident: str = "",
    incident_declared_at: datetime | None = None,
    incident_started_at: datetime | None = None,
    inline: bool = False,
    scenario: str = "",
) -> RecoveryRun:
    """Create a run (or a drill when ``scenario`` is given) of a plan and queue it."""
    is_drill = bool(scenario)
    found, rows = _plan_and_steps(scenario or plan, is_drill=is_drill, incident=incident)
    services = list(dict.fromkeys(r["service"] for r in rows if r["service"] and r["verify_action"]))
    with transaction.atomic():
        run = RecoveryRun.objects.create(
            kind=RunKind.DRILL if is_drill else RunKind.RUN,
            plan=found.slug,
            scenario=found.slug if is_drill else "",
            dry_run=bool(dry_run),
            incident=incident or "",
            incident_declared_at=incident_declared_at,
            incident_started_at=incident_started_at,
            requested_by=actor_name(actor),
        )
        _record_queued(run, rows, services)

        task = tasks.drill_run if is_drill else tasks.recovery_run
        jobs.dispatch(task, run.id, inline=inline)
    return run


def _record_queued(run: RecoveryRun, rows: list[dict], services: list[str]) -> None:
    """The new run's steps and RTO objectives, its audit entry and its ``queued`` event."""
    RunStep.objects.bulk_create([RunStep(run=run, position=i, **row) for i, row in enumerate(rows, start=1)])
    Objective.objects.bulk_create([Objective(run=run, kind="rto", **t) for t in _rto_targets(services)])
    events.audit(
        actor=run.requested_by,
        action=f"recovery.{run.kind}",
        target=run.subject,
        dry_run=run.dry_run,
        data={"plan": run.plan, "incident": run.incident},
    )
    events.emit(f"{run.kind}.queued", run.subject, _run_payload(run))


def _plan_and_steps(slug: str, *, is_drill: bool, incident: str) -> tuple[RecoveryPlan, list[dict]]:
    """The plan (or scenario) to run and its steps as RunStep fields, or a DomainError saying why not."""
    field = "scenario" if is_drill else "plan"
    if not isinstance(slug, str) or not slug:
        raise DomainError("required", field=field)
    found = RecoveryPlan.objects.filter(slug=slug, is_drill=is_drill).prefetch_related("steps").first()
    if found is None:
        choices = RecoveryPlan.objects.filter(is_drill=is_drill).values_list("slug", flat=True)
        raise DomainError(f"must be one of {', '.join(choices)}", field=field)
    if is_drill and incident:
        raise DomainError("drills are not attached to incidents", field="incident")
    validate_plan(found)
    rows = _step_rows(found)
    if not rows:
        raise DomainError("the plan has no steps", field=field)
    return found, rows


def drill_start(*, scenario: str, actor: object, inline: bool = False) -> RecoveryRun:
    if (
        not isinstance(scenario, str)
        or scenario not in defaults.SCENARIOS
        and not RecoveryPlan.objects.filter(slug=scenario, is_drill=True).exists()
    ):
        raise DomainError(f"must be one of {', '.join(defaults.SCENARIOS)}", field="scenario")
    return run_start(plan="", scenario=scenario, actor=actor, inline=inline)


def drills_monthly(*, inline: bool = False) -> list[RecoveryRun]:
    """The runbook's monthly drill (first Saturday, 02:00): every scenario, one after another."""
    return [drill_start(scenario=s, actor="beat", inline=inline) for s in defaults.SCENARIOS]


def run_cancel(*, run: RecoveryRun | int, actor: object) -> RecoveryRun:
    run_id = run.id if isinstance(run, RecoveryRun) else run
    with transaction.atomic():
        run = RecoveryRun.objects.select_for_update().get(id=run_id)
        if run.finished_at:
            raise InvalidTransition(f"{run.kind} #{run.id} has already finished", current_status=run.status)
        run.cancel_requested = True
        run.save(update_fields=["cancel_requested"])
        if run.status == RunStatus.QUEUED:  # nobody is executing it: finish it here
            _finish(run, cancelled=True)
        events.audit(actor=actor_name(actor), action=f"recovery.{run.kind}.cancel", target=run.subject)
    return run


# --- executing a run ------------------------------------------------------------------------------


def _claim(run_id: int, owner: str) -> bool:
    now = timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now) | Q(lease_owner=owner)
    return bool(
        RecoveryRun.objects.filter(free, id=run_id, status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).update(
            status=RunStatus.RUNNING,
            lease_owner=owner,
            lease_until=now + timezone.timedelta(seconds=_lease_s()),
            started_at=Coalesce(F("started_at"), now),
        )
    )


def _lease_s() -> int:

    return settings.RECOVERY_LEASE_S


def run_execute(*, run_id: int, owner: str) -> RecoveryRun | None:
    """Execute (or resume) a run; return None when another worker holds it or it has finished."""
    if not _claim(run_id, owner):
        return None
    run = RecoveryRun.objects.get(id=run_id)
    events.emit(f"{run.kind}.running", run.subject, _run_payload(run))
    if run.kind == RunKind.DRILL and "before" not in run.steady_state:
        run.steady_state["before"] = _steady_state()
        run.save(update_fields=["steady_state"])
    aborted = False
    while True:
        run.refresh_from_db(fields=["cancel_requested"])
        if run.cancel_requested:
            return _finish(run, cancelled=True)
        step = run.steps.exclude(status__in=DONE).order_by("position").first()
        if step is None:
            break
        RecoveryRun.objects.filter(id=run.id, lease_owner=owner).update(
            lease_until=timezone.now() + timezone.timedelta(seconds=_lease_s())
        )
        if _execute_step(run, step) and not aborted:
            aborted = True
            _skip_rest(run, "the run was aborted by a failed step")  # steps marked ``always`` still run
    if run.kind == RunKind.DRILL:
        run.steady_state["after"] = _steady_state()
        run.save(update_fields=["steady_state"])
    return _finish(run, aborted=aborted)


def _execute_step(run: RecoveryRun, step: RunStep) -> bool:
    """Run one step; return True when the run must abort."""
    if step.status == StepStatus.RUNNING:  # its worker died in the middle of it
        if step.idempotent:
            RunStep.objects.filter(id=step.id, status=StepStatus.RUNNING).update(status=StepStatus.PENDING)
            step.refresh_from_db()
        else:
            _set(
                run,
                step,
                StepStatus.NEEDS_ATTENTION,
                "the worker died while this step ran; not retried because it is not idempotent: check by hand",
            )
            return _after_failure(run, step)
    if _skipped_as_not_needed(run, step) or not _claim_step(step):
        return False
    _announce(run, step)
    outcome, verified_at, verify_output = _verified(run, step, _attempt(run, step))
    if outcome.skipped:  # not configured here: the run cannot prove this part (inconclusive)
        status = StepStatus.SKIPPED
        if not outcome.data.get("missing"):  # a skip that names nothing still proved nothing: never green
            gap = {"what": step.title or step.name, "hint": outcome.output or "skipped"}
            outcome = Outcome(outcome.ok, outcome.output, outcome.data | {"missing": gap}, skipped=True)
    else:
        status = StepStatus.SUCCEEDED if outcome.ok else StepStatus.FAILED
    _set(run, step, status, outcome.output, data=outcome.data, verified_at=verified_at, verify_output=verify_output)
    if status == StepStatus.FAILED or (status == StepStatus.SKIPPED and step.on_failure == OnFailure.FALLBACK):
        return _after_failure(run, step)
    return False


def _skipped_as_not_needed(run: RecoveryRun, step: RunStep) -> bool:
    """A fallback nothing fell back to, or a step whose required step did not succeed, is skipped."""
    names = dict(run.steps.values_list("name", "status"))
    if step.only_as_fallback and not step.triggered:
        _set(run, step, StepStatus.SKIPPED, "not needed: no step fell back to it", claim=StepStatus.PENDING)
        return True
    if step.requires and names.get(step.requires) != StepStatus.SUCCEEDED:
        _set(run, step, StepStatus.SKIPPED, f"not needed: {step.requires} did not run", claim=StepStatus.PENDING)
        return True
    return False


def _claim_step(step: RunStep) -> bool:
    """pending → running, recorded before acting; False when the step is not pending (any more)."""
    now = timezone.now()
    claimed = RunStep.objects.filter(id=step.id, status=StepStatus.PENDING).update(
        status=StepStatus.RUNNING, started_at=now, finished_at=None, attempts=F("attempts") + 1
    )
    if claimed:
        step.refresh_from_db()
    return bool(claimed)


def _attempt(run: RecoveryRun, step: RunStep) -> Outcome:
    try:
        return _perform(run, step)
    except Exception as exc:  # a provider's crash is the step's failure, not the run's
        log.exception("step %s of %s failed", step.name, run.subject)
        return Outcome(False, f"{exc.__class__.__name__}: {str(exc).splitlines()[0][:500] if str(exc) else ''}")


def _verified(run: RecoveryRun, step: RunStep, outcome: Outcome) -> tuple[Outcome, datetime | None, str]:
    """The step's outcome after its verification probe, when it has one and the step succeeded;
    with the time it was verified and what the probe said."""
    verified_at, verify_output = None, ""
    if outcome.ok and step.verify_action and not outcome.skipped:
        try:
            probe = _run_spec(step.verify_action, _resolve(run, step.verify_params), dry_run=run.dry_run)
        except Exception as exc:  # a broken probe is a failed verification
            probe = Outcome(False, f"{exc.__class__.__name__}: {str(exc)[:300]}")
        verify_output = probe.output
        if probe.skipped:  # the step ran but nothing could check it: it is not proven
            missing = {"missing": probe.data.get("missing") or {"what": step.verify_action, "hint": probe.output}}
            if step.action == "verify":
                outcome = Outcome(True, probe.output, outcome.data | missing, skipped=True)
            else:
                outcome = Outcome(outcome.ok, outcome.output, outcome.data | {"unverified": missing["missing"]})
        elif probe.ok:
            verified_at = None if run.dry_run else timezone.now()
        else:
            outcome = Outcome(False, f"{outcome.output}\nverification failed: {probe.output}".strip(), outcome.data)
    return outcome, verified_at, verify_output


def _after_failure(run: RecoveryRun, step: RunStep) -> bool:
    if step.on_failure == OnFailure.FALLBACK and step.fallback:
        RunStep.objects.filter(run=run, name=step.fallback).update(triggered=True)
        return False
    # A dry run shows the whole plan, so nothing aborts it.
    return step.on_failure == OnFailure.ABORT and step.status != StepStatus.SKIPPED and not run.dry_run


def _resolve(run: RecoveryRun, params: dict) -> dict:
    """``"$step.key"`` → that earlier step's ``data[key]`` (e.g. the new branch's connection URI)."""
    resolved = {}
    for key, value in params.items():
        if isinstance(value, str) and value.startswith("$"):
            name, _, field = value[1:].rpartition(".")
            data = run.steps.filter(name=name).values_list("data", flat=True).first() or {}
            value = data.get(field, "")
        resolved[key] = value
    return resolved


def _run_spec(spec: str, params: dict, *, dry_run: bool) -> Outcome:
    provider, action = parse_action(spec)
    return provider.run(action, params, dry_run=dry_run)


def _perform(run: RecoveryRun, step: RunStep) -> Outcome:
    if step.action == "verify":
        return Outcome(True, "checking")
    if step.action == "report.generate":
        report = build_report(run)
        RecoveryRun.objects.filter(id=run.id).update(report=report)
        return Outcome(True, f"report with {len(report['checklist'])} checklist items")
    return _run_spec(step.action, _resolve(run, step.params), dry_run=run.dry_run)


SECRET_KEYS = {"connection_uri"}


def _set(run, step, status, output, *, claim=StepStatus.RUNNING, data=None, verified_at=None, verify_output=""):
    now = timezone.now()
    fields = {"status": status, "output": output[:20000], "finished_at": now, "verify_output": verify_output[:4000]}
    if data is not None:
        fields["data"] = data
    if verified_at:
        fields["verified_at"] = verified_at
    if claim == StepStatus.PENDING:
        fields["started_at"] = now
    if RunStep.objects.filter(id=step.id, status=claim).update(**fields):
        step.refresh_from_db()
        _announce(run, step)


def _skip_rest(run: RecoveryRun, why: str, *, keep_always: bool = True) -> None:
    pending = RunStep.objects.filter(run=run, status=StepStatus.PENDING)
    if keep_always:
        pending = pending.exclude(always=True)
    pending.update(status=StepStatus.SKIPPED, output=why)


def step_payload(step: RunStep) -> dict:
    return {
        "position": step.position,
        "name": step.name,
        "title": step.title,
        "service": step.service,
        "action": step.action,
        "status": step.status,
        "attempts": step.attempts,
        "output": step.output,
    }


def _run_payload(run: RecoveryRun) -> dict:
    return {
        "id": run.id,
        "kind": run.kind,
        "plan": run.plan,
        "status": run.status,
        "dry_run": run.dry_run,
        "incident": run.incident,
        "deviated": run.deviated,
    }


def _announce(run: RecoveryRun, step: RunStep) -> None:
    payload = step_payload(step)
    events.emit(f"{run.kind}.step", run.subject, {"run": run.id, "incident": run.incident} | payload)
    for receiver, result in signals.run_step_changed.send_robust(RecoveryRun, run=_run_payload(run), step=payload):
        if isinstance(result, Exception):
            log.warning("run_step_changed receiver %s failed: %s", receiver, result)


def _steady_state() -> dict:
    outcome = REGISTRY["probe"].run("steady_state")
    return {"ok": outcome.ok, "at": timezone.now().isoformat(), "checks": outcome.data.get("checks", {})}


# --- finishing: objectives and report -------------------------------------------------------------


def _measure(run: RecoveryRun) -> None:
    steps = list(run.steps.all())
    start = run.clock_start or run.started_at
    by_name = {s.name: s for s in steps}
    for objective in run.objectives.filter(kind="rto"):
        checked = [s for s in steps if s.service == objective.subject and s.verify_action]
        failed = any(_failed(s) and not _rescued(s, by_name) for s in checked)  # a fallback that worked is fine
        passed = [s.verified_at for s in checked if s.verified_at]
        if run.dry_run or not passed:
            achieved, met = None, (False if failed and not run.dry_run else None)
        else:
            achieved = round((max(passed) - start).total_seconds(), 3)
            met = not failed and achieved <= objective.target_s
        Objective.objects.filter(id=objective.id).update(achieved_s=achieved, met=met)
    if run.dry_run:
        return
    reference = run.incident_started_at or run.incident_declared_at or run.started_at
    for step in steps:
        point = step.data.get("point_in_time") or step.data.get("snapshot_at")
        if step.status != StepStatus.SUCCEEDED or not step.data.get("data_type") or not point:
            continue
        dtype = DataType.objects.filter(slug=step.data["data_type"]).first()
        if dtype is None:
            continue
        achieved = round(max(0.0, (reference - parse_datetime(point)).total_seconds()), 3)
        Objective.objects.update_or_create(
            run=run,
            kind="rpo",
            subject=dtype.slug,
            defaults={
                "name": dtype.name,
                "target_s": dtype.rpo_target_s,
                "max_s": dtype.rpo_max_s,
                "achieved_s": achieved,
                "met": achieved <= dtype.rpo_target_s,
            },
        )


def _failed(step: RunStep) -> bool:
    return step.status in (StepStatus.FAILED, StepStatus.NEEDS_ATTENTION)


def _rescued(step: RunStep, by_name: dict[str, RunStep], depth: int = 0) -> bool:
    """A step that fell back to another one which (itself, or through its own fallback) succeeded."""
    nxt = by_name.get(step.fallback) if step.on_failure == OnFailure.FALLBACK else None
    if nxt is None or depth > len(by_name):
        return False
    return nxt.status == StepStatus.SUCCEEDED or (
        nxt.status != StepStatus.PENDING and _rescued(nxt, by_name, depth + 1)
    )


def unproven(steps: list[RunStep]) -> list[dict]:
    """What to configure: [{what, hint}] of the proof steps skipped (or left unverified) for want of it.
    Best-effort steps (``on_failure=continue``) and steps a working fallback stood in for are no proof."""
    by_name = {s.name: s for s in steps}
    found: dict[tuple, dict] = {}
    for step in steps:
        if step.on_failure == OnFailure.CONTINUE or _rescued(step, by_name):
            continue
        gap = step.data.get("missing") if step.status == StepStatus.SKIPPED else step.data.get("unverified")
        for item in gap if isinstance(gap, list) else [gap] if gap else []:
            found.setdefault((item.get("what"), item.get("hint")), {"what": item.get("what"), "hint": item.get("hint")})
    return list(found.values())


def _verdict(steps: list[RunStep], *, aborted: bool, cancelled: bool, missing: list[dict]) -> str:
    """succeeded only when every proof step ran and verified; failed when one ran and failed (and no
    fallback stood in); inconclusive when one was skipped because something is not configured."""
    if cancelled:
        return RunStatus.CANCELLED
    by_name = {s.name: s for s in steps}
    decisive = [s for s in steps if _failed(s) and s.on_failure != OnFailure.CONTINUE and not _rescued(s, by_name)]
    if aborted or decisive:
        return RunStatus.FAILED
    return RunStatus.INCONCLUSIVE if missing else RunStatus.SUCCEEDED


def _finish(run: RecoveryRun, *, aborted: bool = False, cancelled: bool = False) -> RecoveryRun:

    if cancelled:
        _skip_rest(run, "the run was cancelled", keep_always=False)
        RunStep.objects.filter(run=run, status=StepStatus.RUNNING).update(
            status=StepStatus.NEEDS_ATTENTION, output="cancelled while running"
        )
    _measure(run)
    steps = list(run.steps.all())
    missing = unproven(steps)
    status = _verdict(steps, aborted=aborted, cancelled=cancelled, missing=missing)
    deviated = False
    if run.kind == RunKind.DRILL and not cancelled:
        before, after = run.steady_state.get("before", {}), run.steady_state.get("after", {})
        missed = run.objectives.filter(met=False).exists()
        deviated = bool(before.get("ok") != after.get("ok") or missed)
    now = timezone.now()
    counts = {s: sum(1 for x in steps if x.status == s) for s in StepStatus.values}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    with transaction.atomic():
        updated = RecoveryRun.objects.filter(id=run.id, finished_at__isnull=True).update(
            status=status, finished_at=now, deviated=deviated, summary=summary[:500], lease_until=None, missing=missing
        )
        run.refresh_from_db()
        if not updated:
            return run
        run.report = build_report(run)
        run.save(update_fields=["report"])
        events.emit(f"{run.kind}.finished", run.subject, _run_payload(run) | {"summary": summary})
        payload = _run_payload(run) | {
            "summary": summary,
            "report_url": run.get_absolute_url() + "report/",
            "scheduled": run.scheduled,
            "missing": run.missing,
        }
    for receiver, result in signals.run_finished.send_robust(RecoveryRun, run=payload):
        if isinstance(result, Exception):
            log.warning("run_finished receiver %s failed: %s", receiver, result)
    return run


# --- the sweeper ----------------------------------------------------------------------------------


def runs_sweep(*, queued_after_s: int = 60) -> dict:
    """Re-dispatch runs the broker never delivered, and runs whose worker died (lease expired, or its
    owner no longer answers a ping); the new worker resumes at the interrupted step."""
    app = jobs.celery_app()

    now = timezone.now()
    resend: list[RecoveryRun] = list(
        RecoveryRun.objects.filter(
            status=RunStatus.QUEUED, created_at__lt=now - timezone.timedelta(seconds=queued_after_s)
        )
    )
    running = list(RecoveryRun.objects.filter(status=RunStatus.RUNNING))
    alive: set[str] | None = None
    for run in running:
        if run.lease_until and run.lease_until >= now:
            if run.lease_owner.startswith("inline:"):
                continue
            if alive is None:
                replies = app.control.ping(timeout=2) or []
                alive = {name for reply in replies for name in reply}
            if run.lease_owner in alive:
                continue
        if RecoveryRun.objects.filter(id=run.id, lease_owner=run.lease_owner, status=RunStatus.RUNNING).update(
            lease_until=None, lease_owner=""
        ):
            resend.append(run)
    for run in resend:
        jobs.send(tasks.drill_run if run.kind == RunKind.DRILL else tasks.recovery_run, run.id)
    return {"resent": [r.id for r in resend]}


def incident_fields(public_id: str | None) -> dict:
    """``run_start``'s incident arguments for a run started for ``public_id`` (none without one)."""
    if not public_id:
        return {}
    info = incident_info(public_id)
    return {
        "incident": info["public_id"],
        "incident_declared_at": info["declared_at"],
        "incident_started_at": info.get("started_at"),
    }


def incident_info(public_id: str) -> dict:
    """The incident's declaration and start times, through the hook the incidents app registers."""
    resolver = hooks.get("resolve_incident")
    info = resolver(public_id) if resolver else None
    if not info:
        raise DomainError("no such incident", field="incident")
    return info


__all__ = ["PlanStep", "drill_start", "run_cancel", "run_execute", "run_start", "runs_sweep"]

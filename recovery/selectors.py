"""Reads for pages, the API and other apps (post-mortems, metrics)."""

from __future__ import annotations

from datetime import datetime

from django.db import DatabaseError
from django.db.models import Count, Prefetch, QuerySet

from .defaults import PLANS
from .models import Objective, RecoveryPlan, RecoveryRun, RunKind, RunStatus


def runs(*, kind: str | None = None, status: str | None = None, incident: str | None = None) -> QuerySet[RecoveryRun]:
    qs = RecoveryRun.objects.prefetch_related("steps", "objectives")
    if kind:
        qs = qs.filter(kind=kind)
    if status:
        qs = qs.filter(status=status)
    if incident:
        qs = qs.filter(incident=incident)
    return qs


def plans() -> QuerySet[RecoveryPlan]:
    return RecoveryPlan.objects.prefetch_related("steps")


def plan_slugs(*, is_drill: bool) -> list[str]:
    """The plans (or drill scenarios) that can be started, by slug: the API's enum of them. Before the
    first migrate (``check --deploy`` builds the schema then too) the runbook's defaults stand in."""
    try:
        return list(RecoveryPlan.objects.filter(is_drill=is_drill).order_by("slug").values_list("slug", flat=True))
    except DatabaseError:
        return sorted(slug for slug, plan in PLANS.items() if bool(plan.get("drill")) == is_drill)


def objective_results(*, since: datetime | None = None, until: datetime | None = None) -> list[dict]:
    """Every measured objective of finished, real (not dry) runs and drills, oldest first."""
    qs = Objective.objects.select_related("run").filter(run__finished_at__isnull=False, run__dry_run=False)
    qs = qs.exclude(run__status=RunStatus.CANCELLED)
    if since:
        qs = qs.filter(run__finished_at__gte=since)
    if until:
        qs = qs.filter(run__finished_at__lt=until)
    return [
        {
            "run": o.run_id,
            "kind": o.run.kind,
            "objective": o.kind,
            "finished_at": o.run.finished_at,
            "service": o.subject if o.kind == "rto" else None,
            "data_type": o.subject if o.kind == "rpo" else None,
            "target_s": o.target_s,
            "max_s": o.max_s,
            "achieved_s": o.achieved_s,
            "met": o.met,
        }
        for o in qs.order_by("run__finished_at", "id")
    ]


def outcome_counts(*, since: datetime, until: datetime | None = None) -> list[dict]:
    """Finished real runs and drills by kind and outcome: [{kind, status, count}], every outcome listed."""
    qs = RecoveryRun.objects.filter(finished_at__gte=since, dry_run=False)
    if until:
        qs = qs.filter(finished_at__lt=until)
    found = {(k, s): n for k, s, n in qs.values_list("kind", "status").annotate(n=Count("id")).order_by()}
    outcomes = (RunStatus.SUCCEEDED, RunStatus.INCONCLUSIVE, RunStatus.FAILED)
    return [
        {"kind": kind, "status": status, "count": found.get((kind, status), 0)}
        for kind in (RunKind.DRILL, RunKind.RUN)
        for status in outcomes
    ]


def run_with_steps(run_id: int) -> RecoveryRun:
    return RecoveryRun.objects.prefetch_related(Prefetch("steps"), "objectives").get(id=run_id)


def run_progress(run: RecoveryRun) -> dict:
    """A recovery run or drill as the pages show it while it runs: the share of its steps finished
    (skipped ones count: they are settled) and every step with its status."""
    steps = [s for s in run.steps.all() if not s.only_as_fallback or s.triggered]  # fallbacks count once used
    settled = sum(1 for s in steps if s.status not in ("pending", "running"))
    percent = round(100 * settled / len(steps)) if steps else None
    listed = [{"name": s.title, "status": s.status, "note": s.service} for s in steps]
    return {"percent": percent, "steps": listed, "note": f"{settled} of {len(steps)} steps"}

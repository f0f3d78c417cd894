"""Recovery metrics for /metrics: ``collect()`` yields ``(name, type, help, [(labels, value), …])``.

Each outcome is its own series, so an inconclusive drill never counts as a succeeded one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from django.db.models import Count
from django.utils import timezone

from .models import RecoveryRun, RunKind, RunStatus

Family = tuple[str, str, str, list[tuple[dict, float]]]
FINISHED = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.INCONCLUSIVE, RunStatus.CANCELLED)
# pitchey_recovery_last_drill_outcome: 0 succeeded, 1 inconclusive, 2 failed (cancelled drills are left out).
OUTCOME_VALUES = {RunStatus.SUCCEEDED: 0, RunStatus.INCONCLUSIVE: 1, RunStatus.FAILED: 2}


def collect() -> Iterator[Family]:
    since = timezone.now() - timedelta(days=30)
    counted = dict(
        ((kind, status), n)
        for kind, status, n in RecoveryRun.objects.filter(finished_at__gte=since, dry_run=False)
        .values_list("kind", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    yield (
        "pitchey_recovery_runs_finished",
        "gauge",
        "Recovery runs and drills finished in the last 30 days, by kind and outcome.",
        [({"kind": k, "status": s}, counted.get((k, s), 0)) for k in RunKind.values for s in FINISHED],
    )
    latest: dict[str, RecoveryRun] = {}
    drills = RecoveryRun.objects.filter(kind=RunKind.DRILL, dry_run=False, status__in=list(OUTCOME_VALUES))
    for run in drills.order_by("finished_at", "id"):
        latest[run.scenario or run.plan] = run
    yield (
        "pitchey_recovery_last_drill_outcome",
        "gauge",
        "Outcome of each scenario's latest drill: 0 succeeded, 1 inconclusive, 2 failed.",
        [({"scenario": s, "status": r.status}, OUTCOME_VALUES[r.status]) for s, r in sorted(latest.items())],
    )

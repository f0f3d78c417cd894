"""MTTx, post-mortem, recovery-objective and backup-success metrics for ``/metrics`` (via ``incidents.metrics``).

``collect()`` yields ``(name, type, help, [(labels, value), …])``; windowed figures cover the last
30 days, like the metrics summary's default period.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count
from django.utils import timezone

from incidents.lifecycle.models import Incident
from incidents.postmortems import mttx as metrics_selectors
from incidents.postmortems.models import ACTION_ITEM_OPEN_STATUSES, ActionItem, PostMortemDeadline

Sample = tuple[dict[str, str], float]

MEANS = (
    ("mttd_s", "pitchey_incident_mttd_seconds", "Mean time to detect (first alert to declaration), last 30 days."),
    ("mtta_s", "pitchey_incident_mtta_seconds", "Mean time to acknowledge, last 30 days."),
    ("mttm_s", "pitchey_incident_mttm_seconds", "Mean time to mitigate, last 30 days."),
    ("mttr_s", "pitchey_incident_mttr_seconds", "Mean time to resolve, last 30 days."),
)


def collect(now=None) -> Iterator[tuple[str, str, str, list[Sample]]]:
    now = now or timezone.now()
    data = metrics_selectors.incident_metrics(since=now - metrics_selectors.DEFAULT_PERIOD, until=now, now=now)
    for key, name, help_text in MEANS:
        samples = [
            ({"severity": sev}, group[key]) for sev, group in data["by_severity"].items() if group[key] is not None
        ]
        yield name, "gauge", help_text, samples
    yield (
        "pitchey_incident_response_time_met_ratio",
        "gauge",
        "Share of incidents acknowledged within their severity's response time, last 30 days.",
        [
            ({"severity": sev}, group["response_time_met_ratio"])
            for sev, group in data["by_severity"].items()
            if group["response_time_met_ratio"] is not None
        ],
    )
    counts = Incident.objects.values_list("severity", "status").annotate(n=Count("id")).order_by()
    yield (
        "pitchey_incidents",
        "gauge",
        "Incidents by severity and status.",
        [({"severity": sev, "status": status}, float(n)) for sev, status, n in counts],
    )
    open_items = ActionItem.objects.filter(status__in=ACTION_ITEM_OPEN_STATUSES)
    yield (
        "pitchey_action_items_open",
        "gauge",
        "Open action items; overdue=true past their due date.",
        [
            ({"overdue": "true"}, float(open_items.filter(due_at__lt=now).count())),
            ({"overdue": "false"}, float(open_items.filter(due_at__gte=now).count())),
        ],
    )
    overdue = (
        PostMortemDeadline.objects.filter(done_at=None, due_at__lt=now)
        .values_list("name")
        .annotate(n=Count("id"))
        .order_by()
    )
    yield (
        "pitchey_postmortem_deadlines_overdue",
        "gauge",
        "Post-mortem deadlines past due and not met, by deadline.",
        [({"deadline": name}, float(n)) for name, n in overdue],
    )
    period = {"since": now - metrics_selectors.DEFAULT_PERIOD, "until": now}
    achieved = metrics_selectors.objectives(**period)
    samples = []
    for objective in ("rto", "rpo"):
        for kind in ("run", "drill"):
            ratio = metrics_selectors.met_ratio([r for r in achieved[objective] if r["kind"] == kind])
            if ratio is not None:
                samples.append(({"objective": objective, "kind": kind}, ratio))
    yield (
        "pitchey_recovery_objective_met_ratio",
        "gauge",
        "Share of achieved RTO/RPO within target in finished recovery runs and drills, last 30 days.",
        samples,
    )
    backups = metrics_selectors.backup_health(**period, now=now)
    yield (
        "pitchey_backup_success_ratio",
        "gauge",
        "Share of backups finished in the last 30 days that succeeded.",
        [({}, backups["success_ratio"])] if backups["success_ratio"] is not None else [],
    )

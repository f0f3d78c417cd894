"""Incident metrics per severity, service and period: MTTD, MTTA, MTTM, MTTR, response time met.

All durations are means in seconds over the incidents *declared* in ``[since, until)``, measured
from ``declared_at`` (MTTD: from ``detected_at``, the first alert, to ``declared_at``). An incident
counts towards a mean only once it has the end timestamp. Computed in Python from one query per
table, so the numbers are the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from statistics import fmean

from django.db.models import Count
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from backups.models import Backup
from backups.models import Status as BackupStatus
from backups.selectors import rpo_status
from incidents.lifecycle.models import Incident, SeverityPolicy
from pitchey_incidents.errors import DomainError
from recovery.models import Severity
from recovery.selectors import objective_results

DEFAULT_PERIOD = timedelta(days=30)
# Bounds of ``?from=&to=``: far enough for any real history, near enough that date arithmetic never overflows.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class IncidentTimes:
    id: int
    severity: str
    declared_at: datetime
    detected_at: datetime | None
    acknowledged_at: datetime | None
    mitigated_at: datetime | None
    resolved_at: datetime | None


def parse_period(raw_from: str | None, raw_to: str | None, *, now: datetime | None = None) -> tuple[datetime, datetime]:
    """``?from=&to=`` as dates (``2026-11-01``; ``to`` is inclusive) or ISO datetimes; default 30 days."""
    now = now or timezone.now()
    until = _parse_bound(raw_to, "to", end=True) if raw_to else now
    since = _parse_bound(raw_from, "from", end=False) if raw_from else until - DEFAULT_PERIOD
    if since >= until:
        raise DomainError("must be after from", field="to")
    return since, until


def _parse_bound(raw: str, field: str, *, end: bool) -> datetime:
    raw = raw.strip()
    try:
        d = parse_date(raw)  # a bare date first: Python parses it as a datetime at midnight too
        if d is not None:
            dt = datetime.combine(d + timedelta(days=1) if end else d, time.min)
        else:
            dt = parse_datetime(raw)
            if dt is None:
                raise ValueError
    except ValueError:
        raise DomainError("must be a date (YYYY-MM-DD) or an ISO 8601 date and time", field=field) from None
    except OverflowError:  # the day after 9999-12-31
        dt = LATEST + timedelta(days=1)
    if timezone.is_naive(dt):
        dt = timezone.make_aware(dt, UTC)
    if not EARLIEST <= dt <= LATEST:
        raise DomainError(f"must be between {EARLIEST.date()} and {LATEST.date()}", field=field)
    return dt


def _times(since: datetime, until: datetime) -> list[IncidentTimes]:
    rows = Incident.objects.filter(declared_at__gte=since, declared_at__lt=until).values_list(
        "id", "severity", "declared_at", "detected_at", "acknowledged_at", "mitigated_at", "resolved_at"
    )
    return [IncidentTimes(*row) for row in rows]


def _mean(values: list[float]) -> float | None:
    return round(fmean(values), 1) if values else None


def _durations(rows: list[IncidentTimes]) -> dict[str, float | None]:
    def since_declared(attr: str) -> list[float]:
        return [(getattr(r, attr) - r.declared_at).total_seconds() for r in rows if getattr(r, attr)]

    return {
        "mttd_s": _mean([(r.declared_at - r.detected_at).total_seconds() for r in rows if r.detected_at]),
        "mtta_s": _mean(since_declared("acknowledged_at")),
        "mttm_s": _mean(since_declared("mitigated_at")),
        "mttr_s": _mean(since_declared("resolved_at")),
    }


def response_time_met(row: IncidentTimes, response_s: int | None, now: datetime) -> bool | None:
    """True/False once decided; None while an unacknowledged incident is still within its time."""
    if response_s is None:
        return None
    if row.acknowledged_at:
        return (row.acknowledged_at - row.declared_at).total_seconds() <= response_s
    return False if (now - row.declared_at).total_seconds() > response_s else None


def _met_ratio(rows: list[IncidentTimes], policy_s: dict[str, int], now: datetime) -> float | None:
    decided = [m for m in (response_time_met(r, policy_s.get(r.severity), now) for r in rows) if m is not None]
    return round(sum(decided) / len(decided), 4) if decided else None


def _group(rows: list[IncidentTimes], policy_s: dict[str, int], now: datetime) -> dict:
    return {"incidents": len(rows), **_durations(rows), "response_time_met_ratio": _met_ratio(rows, policy_s, now)}


def policy_seconds() -> dict[str, int]:
    return dict(SeverityPolicy.objects.values_list("severity", "response_time_s"))


def incident_metrics(*, since: datetime, until: datetime, now: datetime | None = None) -> dict:
    """``{mttd_s, mtta_s, mttm_s, mttr_s, incidents, response_time_met_ratio, by_severity, by_service}``."""
    now = now or timezone.now()
    rows = _times(since, until)
    policy_s = policy_seconds()
    by_severity = {sev: _group([r for r in rows if r.severity == sev], policy_s, now) for sev in Severity.values}
    services_of: dict[int, list[str]] = defaultdict(list)
    links = Incident.services.through.objects.filter(incident_id__in=[r.id for r in rows])
    for incident_id, slug in links.values_list("incident_id", "service__slug"):
        services_of[incident_id].append(slug)
    by_service_rows: dict[str, list[IncidentTimes]] = defaultdict(list)
    for r in rows:
        for slug in services_of[r.id]:
            by_service_rows[slug].append(r)
    return {
        **_group(rows, policy_s, now),
        "by_severity": by_severity,
        "by_service": {slug: _group(group, policy_s, now) for slug, group in sorted(by_service_rows.items())},
    }


def week_start(d: date) -> date:
    return d - timedelta(days=d.weekday())


def weekly_series(*, weeks: int = 12, now: datetime | None = None) -> list[dict]:
    """Per ISO week (oldest first): ``{week, start, counts: {P0…}, mtta_s, mttr_s}`` for the plots."""
    now = now or timezone.now()
    first = week_start(timezone.localdate(now)) - timedelta(weeks=weeks - 1)
    since = datetime.combine(first, time.min, tzinfo=UTC)
    rows = _times(since, now + timedelta(seconds=1))
    buckets: dict[date, list[IncidentTimes]] = defaultdict(list)
    for r in rows:
        buckets[week_start(r.declared_at.astimezone(UTC).date())].append(r)
    series = []
    for i in range(weeks):
        start = first + timedelta(weeks=i)
        group = buckets.get(start, [])
        durations = _durations(group)
        per_severity = {sev: _durations([r for r in group if r.severity == sev]) for sev in Severity.values}
        series.append(
            {
                "week": f"{start.isocalendar().year}-W{start.isocalendar().week:02d}",
                "start": start,
                "counts": {sev: sum(1 for r in group if r.severity == sev) for sev in Severity.values},
                "mtta_s": durations["mtta_s"],
                "mttr_s": durations["mttr_s"],
                "by_severity": per_severity,
            }
        )
    return series


# --- recovery objectives and backups (from the recovery and backups apps) -----------------------


def objectives(*, since: datetime | None, until: datetime | None) -> dict[str, list[dict]]:
    """Achieved RTO and RPO of finished real recovery runs and drills in the period, oldest first."""
    rows = objective_results(since=since, until=until)
    return {
        "rto": [_objective_row(r, "service") for r in rows if r["objective"] == "rto"],
        "rpo": [_objective_row(r, "data_type") for r in rows if r["objective"] == "rpo"],
    }


def _objective_row(row: dict, subject: str) -> dict:
    keys = ("run", "kind", "finished_at", subject, "target_s", "max_s", "achieved_s", "met")
    return {key: row[key] for key in keys}


def met_ratio(rows: list[dict]) -> float | None:
    decided = [r["met"] for r in rows if r["met"] is not None]
    return round(sum(decided) / len(decided), 4) if decided else None


def backup_health(*, since: datetime, until: datetime, now: datetime | None = None) -> dict:
    """Share of backups finished in the period that succeeded, and the newest verified backup's age
    against each data type's RPO (``backups.selectors.rpo_status``)."""
    finished = Backup.objects.filter(
        finished_at__gte=since, finished_at__lt=until, status__in=[BackupStatus.SUCCEEDED, BackupStatus.FAILED]
    )
    counts = dict(finished.values_list("status").annotate(n=Count("id")).order_by())
    total = sum(counts.values())
    data_types = rpo_status(now=now)
    ages = [row["age_s"] for row in data_types if row["age_s"] is not None]
    return {
        "success_ratio": round(counts.get(BackupStatus.SUCCEEDED, 0) / total, 4) if total else None,
        "succeeded": counts.get(BackupStatus.SUCCEEDED, 0),
        "failed": counts.get(BackupStatus.FAILED, 0),
        "age_s": min(ages) if ages else None,
        "data_types": data_types,
    }


def metrics_summary(*, since: datetime, until: datetime, now: datetime | None = None) -> dict:
    """What ``GET /api/v1/metrics/summary/`` answers for the period."""
    data = incident_metrics(since=since, until=until, now=now)
    achieved = objectives(since=since, until=until)
    return {
        "from": since,
        "to": until,
        **data,
        **achieved,
        "rto_met_ratio": met_ratio(achieved["rto"]),
        "rpo_met_ratio": met_ratio(achieved["rpo"]),
        "backups": backup_health(since=since, until=until, now=now),
    }

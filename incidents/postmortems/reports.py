"""Reports (plots of the trends) and the runbook's weekly and monthly review pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from incidents.lifecycle.models import Incident
from incidents.postmortems import mttx as metrics_selectors
from incidents.postmortems import selectors as postmortem_selectors
from incidents.postmortems.models import PostMortemDeadline
from pitchey_incidents import charts
from pitchey_incidents.timefmt import format_duration
from recovery import selectors as recovery_selectors
from recovery.models import Severity
from recovery.selectors import runs

SEVERITY_KEYS = [(sev, sev) for sev in Severity.values]


def _minutes(value: float | None) -> float | None:
    return None if value is None else round(value / 60, 1)


def _minutes_per_severity(series: list[dict], metric: str) -> list[charts.Series]:
    """One line per severity of a weekly mean (``mtta_s`` → "P1 MTTA"), in minutes."""
    name = metric.removesuffix("_s").upper()
    return [
        charts.Series(f"{sev} {name}", key, [_minutes(w["by_severity"][sev][metric]) for w in series])
        for sev, key in SEVERITY_KEYS
    ]


def incident_charts(*, weeks: int, now: datetime) -> list[charts.Chart]:
    series = metrics_selectors.weekly_series(weeks=weeks, now=now)
    labels = [w["week"][5:] for w in series]
    policy = metrics_selectors.policy_seconds()
    per_week = charts.StackedBars(
        title="Incidents per week by severity",
        empty_text="No incidents in these weeks.",
        unit="incidents",
        labels=labels,
        series=[charts.Series(sev, key, [w["counts"][sev] for w in series]) for sev, key in SEVERITY_KEYS],
    )
    mtta = charts.Lines(
        title="Mean time to acknowledge per week, against each severity's response time",
        empty_text="No acknowledged incidents in these weeks.",
        unit="min",
        labels=labels,
        series=_minutes_per_severity(series, "mtta_s"),
        references=[(f"{sev} response time", policy[sev] / 60) for sev in Severity.values if sev in policy],
    )
    mttr = charts.Lines(
        title="Mean time to resolve per week",
        empty_text="No resolved incidents in these weeks.",
        unit="min",
        labels=labels,
        series=_minutes_per_severity(series, "mttr_s"),
    )
    return [per_week, mtta, mttr]


def objective_charts(*, since: datetime, until: datetime, now: datetime) -> list[charts.Chart]:
    """Achieved RTO and RPO against targets over the latest runs and drills; backup age against RPO."""
    achieved = metrics_selectors.objectives(since=since, until=until)
    backups = metrics_selectors.backup_health(since=since, until=until, now=now)
    return [
        charts.TargetBars(
            title="Achieved RTO against target (bar) and maximum (dashed), latest runs and drills",
            empty_text="No finished recovery runs or drills measured an RTO in this period.",
            unit="min",
            rows=_objective_rows(achieved["rto"], "service"),
        ),
        charts.TargetBars(
            title="Achieved RPO against target and maximum, latest runs and drills",
            empty_text="No finished recovery runs or drills measured an RPO in this period.",
            unit="min",
            rows=_objective_rows(achieved["rpo"], "data_type"),
        ),
        charts.TargetBars(
            title="Age of the newest verified backup against RPO, per data type (now)",
            empty_text="No data types are configured.",
            unit="h",
            rows=[
                charts.TargetRow(
                    row["name"],
                    None if row["age_s"] is None else round(row["age_s"] / 3600, 2),
                    row["target_s"] / 3600,
                    row["max_s"] / 3600,
                )
                for row in backups["data_types"]
            ],
        ),
    ]


def _objective_rows(results: list[dict], subject: str) -> list[charts.TargetRow]:
    """The latest achieved objectives, in minutes, labelled by date, kind, run and ``subject``."""
    return [
        charts.TargetRow(
            f"{r['finished_at']:%m-%d} {r['kind']} #{r['run']} {r[subject]}",
            _minutes(r["achieved_s"]),
            r["target_s"] / 60,
            r["max_s"] / 60,
        )
        for r in results[-RECENT_OBJECTIVES:]
    ]


RECENT_OBJECTIVES = 20
OBJECTIVE_PERIOD = timedelta(days=90)


def reports(request: HttpRequest) -> HttpResponse:
    try:
        weeks = min(max(int(request.GET.get("weeks", 12)), 4), 52)
    except ValueError:
        weeks = 12
    now = timezone.now()
    since = now - metrics_selectors.DEFAULT_PERIOD
    summary = metrics_selectors.metrics_summary(since=since, until=now, now=now)
    return render(
        request,
        "incidents/postmortems/reports.html",
        {
            "weeks": weeks,
            "charts": incident_charts(weeks=weeks, now=now),
            "objective_charts": objective_charts(since=now - OBJECTIVE_PERIOD, until=now, now=now),
            "outcomes": recovery_selectors.outcome_counts(since=now - OBJECTIVE_PERIOD),
            "summary": summary,
            "severity_rows": list(summary["by_severity"].items()),
        },
    )


# --- reviews -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    kind: str  # weekly | monthly
    start: date
    end: date  # exclusive
    value: str  # what the picker shows: 2026-W47 or 2026-11
    label: str

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=UTC)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.end, time.min, tzinfo=UTC)


def week_period(value: str | None, today: date) -> Period:
    if value:
        try:
            year, week = value.split("-W")
            start = date.fromisocalendar(int(year), int(week), 1)
        except ValueError:
            raise ValueError("week must look like 2026-W47") from None
    else:
        start = today - timedelta(days=today.weekday())
    iso = start.isocalendar()
    return Period(
        "weekly", start, start + timedelta(days=7), f"{iso.year}-W{iso.week:02d}", f"week {iso.week} of {iso.year}"
    )


def month_period(value: str | None, today: date) -> Period:
    if value:
        try:
            year, month = (int(part) for part in value.split("-"))
            start = date(year, month, 1)
        except ValueError:
            raise ValueError("month must look like 2026-11") from None
    else:
        start = today.replace(day=1)
    end = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    return Period("monthly", start, end, f"{start:%Y-%m}", f"{start:%B %Y}")


def _shift(period: Period, direction: int) -> str:
    if period.kind == "weekly":
        iso = (period.start + timedelta(weeks=direction)).isocalendar()
        return f"{iso.year}-W{iso.week:02d}"
    anchor = period.start - timedelta(days=1) if direction < 0 else period.end
    return f"{anchor:%Y-%m}"


def review(request: HttpRequest, kind: str) -> HttpResponse:
    today = timezone.localdate()
    raw = request.GET.get("week" if kind == "weekly" else "month") or None
    try:
        period = week_period(raw, today) if kind == "weekly" else month_period(raw, today)
    except ValueError as exc:
        return render(request, "incidents/postmortems/review.html", {"kind": kind, "error": str(exc)}, status=400)
    return render(request, "incidents/postmortems/review.html", {"kind": kind, **review_context(period)})


def review_context(period: Period, now: datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    items = list(postmortem_selectors.action_items(status="open", now=now)[:500])
    overdue_deadlines = list(
        PostMortemDeadline.objects.filter(done_at=None, due_at__lt=now)
        .select_related("postmortem__incident")
        .order_by("due_at", "id")[:200]
    )
    return {
        **_objectives_context(period, now),
        "period": period,
        "previous": _shift(period, -1),
        "next": _shift(period, 1),
        "rows": _incident_rows(period, now),
        "summary": metrics_selectors.incident_metrics(since=period.since, until=period.until, now=now),
        "items": items,
        "overdue_items": [i for i in items if i.is_overdue(now)],
        "overdue_deadlines": [
            {"deadline": d, **postmortem_selectors.countdown(d.due_at, d.done_at, now)} for d in overdue_deadlines
        ],
        "now": now,
        "show_incident": True,
    }


def _incident_rows(period: Period, now: datetime) -> list[dict[str, Any]]:
    """The period's incidents: time to acknowledge and resolve, response time met, post-mortem."""
    incidents = (
        Incident.objects.filter(declared_at__gte=period.since, declared_at__lt=period.until)
        .select_related("postmortem", "commander")
        .order_by("declared_at", "id")
    )
    policy = metrics_selectors.policy_seconds()
    rows = []
    for incident in incidents:
        times = metrics_selectors.IncidentTimes(
            incident.id,
            incident.severity,
            incident.declared_at,
            incident.detected_at,
            incident.acknowledged_at,
            incident.mitigated_at,
            incident.resolved_at,
        )
        rows.append(
            {
                "incident": incident,
                "ack": _since_declared(incident, incident.acknowledged_at),
                "resolve": _since_declared(incident, incident.resolved_at),
                "met": metrics_selectors.response_time_met(times, policy.get(incident.severity), now),
                "postmortem": getattr(incident, "postmortem", None),
            }
        )
    return rows


def _since_declared(incident: Incident, at: datetime | None) -> str:
    return format_duration((at - incident.declared_at).total_seconds() if at else None)


def _objectives_context(period: Period, now: datetime) -> dict[str, Any]:
    """The period's drills, the objectives missed, and the data types now near or past their RPO."""
    achieved = metrics_selectors.objectives(since=period.since, until=period.until)
    return {
        "drills": drill_rows(period),
        "rto_missed": [r for r in achieved["rto"] if r["met"] is False],
        "rpo_missed": [r for r in achieved["rpo"] if r["met"] is False],
        "measured": sum(1 for r in achieved["rto"] + achieved["rpo"] if r["achieved_s"] is not None),
        "rpo_now": [
            r
            for r in metrics_selectors.backup_health(since=period.since, until=period.until, now=now)["data_types"]
            if r["state"] in ("warning", "breach") or (r["state"] == "unknown" and r["backup_kind"])
        ],
    }


def drill_rows(period: Period) -> list[dict]:
    """Drills finished in the period, with how many of their objectives were met."""
    drills = runs(kind="drill").filter(finished_at__gte=period.since, finished_at__lt=period.until)
    rows = []
    for run in drills.order_by("finished_at", "id"):
        objectives = list(run.objectives.all())
        rows.append(
            {
                "run": run,
                "met": sum(1 for o in objectives if o.met),
                "missed": sum(1 for o in objectives if o.met is False),
                "objectives": objectives,
            }
        )
    return rows

"""The report at the end of every run and drill: steps, RTO/RPO table, the runbook's validation
checklist with evidence. One dict (JSON), rendered as Markdown here and as HTML by a template."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from backups.models import Backup
from pitchey_incidents.models import Event
from pitchey_incidents.timefmt import format_duration, format_timestamp

from .models import RecoveryRun

SECRET_KEYS = {"connection_uri"}
CHECKLIST = [
    "All backup types created successfully",
    "Backups verified and restorable",
    "Incident detection working",
    "Auto-mitigation triggers correctly",
    "Notifications sent to all channels",
    "Status page updates automatically",
    "Recovery meets RTO targets",
    "Data loss within RPO targets",
    "Post-mortem process initiated",
    "Documentation updated",
]
WINDOW = timedelta(days=35)


def _objectives(run) -> tuple[list[dict], list[dict]]:
    rows = list(run.objectives.all())
    shape = [
        {
            "kind": o.kind,
            "subject": o.subject,
            "name": o.name,
            "target_s": o.target_s,
            "max_s": o.max_s,
            "achieved_s": o.achieved_s,
            "met": o.met,
            "within_max": None if o.achieved_s is None else o.achieved_s <= o.max_s,
        }
        for o in rows
    ]
    return [o for o in shape if o["kind"] == "rto"], [o for o in shape if o["kind"] == "rpo"]


def _recent(prefixes: tuple[str, ...], since) -> int:

    query = Q()
    for p in prefixes:
        query |= Q(kind__startswith=p)
    return Event.objects.filter(query, at__gte=since).count()


def _backup_evidence(steps: list[dict]) -> tuple[dict, dict]:
    kinds = ["database", "config", "media"]
    latest = {k: Backup.objects.filter(kind=k, status="succeeded").order_by("-id").first() for k in kinds}
    made = [f"{k}: #{b.id} at {format_timestamp(b.snapshot_at)}" for k, b in latest.items() if b]
    missing = [k for k, b in latest.items() if not b]
    created = {"status": "fail" if missing else "pass", "evidence": "; ".join(made + [f"{k}: none" for k in missing])}
    verified = Backup.objects.filter(kind="database", verified_at__isnull=False).order_by("-verified_at").first()
    restored = [s for s in steps if s["action"].startswith("postgres.restore") and s["status"] == "succeeded"]
    if restored:
        ev = f"restored in this run: {restored[0]['output'].splitlines()[0]}"
        verdict = {"status": "pass", "evidence": ev}
    elif verified:
        verdict = {
            "status": "pass",
            "evidence": f"backup #{verified.id} verified at {format_timestamp(verified.verified_at)}",
        }
    else:
        verdict = {"status": "fail", "evidence": "no verified database backup"}
    return created, verdict


def _met(rows: list[dict], what: str) -> dict:
    measured = [r for r in rows if r["achieved_s"] is not None]
    if not measured:
        return {"status": "unknown", "evidence": f"no {what} measured in this run"}
    missed = [r["subject"] for r in measured if not r["met"]]
    text = "; ".join(
        f"{r['subject']} {format_duration(r['achieved_s'])} / target {format_duration(r['target_s'])}" for r in measured
    )
    return {"status": "fail" if missed else "pass", "evidence": text}


def checklist(run: RecoveryRun, steps: list[dict], rto: list[dict], rpo: list[dict]) -> list[dict]:
    since = timezone.now() - WINDOW
    created, restorable = _backup_evidence(steps)

    def count(prefixes, label):
        n = _recent(prefixes, since)
        return {"status": "pass" if n else "unknown", "evidence": f"{n} {label} in the last 35 days"}

    notify = [s for s in steps if s["action"] == "notify.test"]
    if notify:
        notified = {"status": "pass" if notify[0]["status"] == "succeeded" else "fail", "evidence": notify[0]["output"]}
    else:
        notified = count(("notification.",), "notification events")
    if run.incident:
        n = Event.objects.filter(subject=f"incident:{run.incident}", kind__contains="postmortem").count()
        postmortem = {"status": "pass" if n else "fail", "evidence": f"{n} post-mortem event(s) on {run.incident}"}
    else:
        postmortem = {"status": "n/a", "evidence": "no incident attached"}
    items = [
        created,
        restorable,
        count(("incident.declared", "alert."), "detection events (alerts, declarations)"),
        count(("incident.mitigation_succeeded",), "successful mitigations"),
        notified,
        count(("statuspage.", "incident.status_update"), "status page updates"),
        _met(rto, "RTO"),
        _met(rpo, "RPO"),
        postmortem,
        {"status": "manual", "evidence": "confirm docs/recovery.md and the runbook reflect this run"},
    ]
    return [{"item": name} | verdict for name, verdict in zip(CHECKLIST, items, strict=True)]


def build_report(run: RecoveryRun) -> dict:
    steps = [
        {
            "position": s.position,
            "name": s.name,
            "title": s.title,
            "service": s.service,
            "action": s.action,
            "status": s.status,
            "attempts": s.attempts,
            "started_at": s.started_at.isoformat() if s.started_at else None,
            "finished_at": s.finished_at.isoformat() if s.finished_at else None,
            "duration_s": s.duration_s,
            "output": s.output,
            "verification": s.verify_output,
            "data": {k: v for k, v in s.data.items() if k not in SECRET_KEYS},
        }
        for s in run.steps.all()
    ]
    rto, rpo = _objectives(run)
    return {
        "id": run.id,
        "kind": run.kind,
        "plan": run.plan,
        "scenario": run.scenario,
        "status": run.status,
        "dry_run": run.dry_run,
        "deviated": run.deviated,
        "incident": run.incident,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "steps": steps,
        "rto": rto,
        "rpo": rpo,
        "steady_state": run.steady_state,
        "checklist": checklist(run, steps, rto, rpo),
    }


def render_markdown(report: dict) -> str:
    """The report as Markdown (``recovery/report.md``): what ``recover`` prints and ``report.md`` serves."""
    steps = [s | {"output_line": _first_line(s["output"])} for s in report["steps"]]
    objectives = [("rto", "Service", report["rto"]), ("rpo", "Data type", report["rpo"])]
    return render_to_string("recovery/report.md", {"report": report, "steps": steps, "objectives": objectives})


def _first_line(output: str | None) -> str:
    return output.splitlines()[0][:120].replace("|", "/") if output else ""

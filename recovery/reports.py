"""The report at the end of every run and drill: steps, RTO/RPO table, the runbook's validation
checklist with evidence. One dict (JSON), rendered as Markdown here and as HTML by a template."""

from __future__ import annotations

from datetime import timedelta

from django.apps import apps
from django.template.loader import render_to_string
from django.utils import timezone

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
# Event kinds that prove an item (exact kinds, not prefixes: a prefix once matched nothing).
NOTIFICATION_KINDS = ("incident.notification_sent", "notification.notification_sent")
AUTOMATIC_STATUS_KINDS = ("declared", "resolved")


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


def _incident_links(subjects: list[str], limit: int = 5) -> list[dict]:
    """Links to the incidents an item's evidence came from (event subjects ``incident:INC-…``)."""
    ids = list(dict.fromkeys(s.split(":", 1)[1] for s in subjects if s.startswith("incident:")))[:limit]
    return [{"label": public_id, "url": f"/incidents/{public_id}/"} for public_id in ids]


def _events(kinds: tuple[str, ...], since) -> dict:
    """Every event of exactly these kinds since ``since``: a count for the evidence, links to the rows."""
    rows = Event.objects.filter(kind__in=kinds, at__gte=since)
    subjects = list(rows.order_by("-at", "-id").values_list("subject", flat=True)[:200])
    return {"count": rows.count(), "links": _incident_links(subjects)}


def _event_item(kinds: tuple[str, ...], label: str, since) -> dict:
    found = _events(kinds, since)
    n = found["count"]
    shown = ", ".join(kinds)
    return {
        "status": "pass" if n else "unknown",
        "evidence": f"{n} {label} in the last 35 days ({shown})",
        "links": found["links"],
    }


def _backup_link(backup) -> dict:
    return {"label": f"backup #{backup.id}", "url": f"/api/v1/backups/{backup.id}/"}


def _newest_holding(Backup, kind: str):
    """The newest succeeded backup that holds ``kind``: one of that kind, or a full one whose manifest
    stored that part (a full backup counts for the kinds it contains)."""
    own = Backup.objects.filter(kind=kind, status="succeeded").order_by("-snapshot_at", "-id").first()
    for full in Backup.objects.filter(kind="full", status="succeeded").order_by("-snapshot_at", "-id")[:20]:
        parts = {p.get("part") for p in full.manifest.get("parts", []) if not p.get("skipped")}
        if kind in parts:
            return full if own is None or full.snapshot_at > own.snapshot_at else own
    return own


def _backups_created() -> dict:
    Backup = apps.get_model("backups", "Backup")
    latest = {k: _newest_holding(Backup, k) for k in ("database", "config", "media")}
    made = [
        f"{k}: #{b.id}{' (full)' if b.kind == 'full' else ''} at {format_timestamp(b.snapshot_at)}"
        for k, b in latest.items()
        if b
    ]
    missing = [f"{k}: none" for k, b in latest.items() if not b]
    links = list({b.id: _backup_link(b) for b in latest.values() if b}.values())
    return {"status": "fail" if missing else "pass", "evidence": "; ".join(made + missing), "links": links}


def _backups_restorable(steps: list[dict]) -> dict:
    Backup = apps.get_model("backups", "Backup")
    restored = [s for s in steps if s["action"].startswith("postgres.restore") and s["status"] == "succeeded"]
    if restored:
        backup = Backup.objects.filter(id=restored[0]["data"].get("backup")).first()
        links = [_backup_link(backup)] if backup else []
        return {"status": "pass", "evidence": f"restored in this run: {_first(restored[0]['output'])}", "links": links}
    verified = Backup.objects.filter(verified_at__isnull=False, status="succeeded").order_by("-verified_at").first()
    if verified is None:
        return {"status": "fail", "evidence": "no verified backup", "links": []}
    evidence = f"{verified.kind} backup #{verified.id} verified at {format_timestamp(verified.verified_at)}"
    return {"status": "pass", "evidence": evidence, "links": [_backup_link(verified)]}


def _statuspage_automatic(since) -> dict:
    """Statuspage deliveries the lifecycle made by itself (declared, resolved); a person's posted
    update (``status_update``) is manual and does not count."""
    try:
        Notification = apps.get_model("incidents", "Notification")
    except LookupError:
        return {"status": "unknown", "evidence": "no status page deliveries recorded here", "links": []}
    rows = Notification.objects.filter(
        channel="statuspage", status="sent", kind__in=AUTOMATIC_STATUS_KINDS, sent_at__gte=since
    ).exclude(incident=None)
    n = rows.count()
    subjects = [f"incident:INC-{i:05d}" for i in rows.order_by("-sent_at").values_list("incident_id", flat=True)[:50]]
    return {
        "status": "pass" if n else "unknown",
        "evidence": f"{n} automatic Statuspage update(s) sent in the last 35 days (on declare and resolve)",
        "links": _incident_links(subjects),
    }


def _detected(since) -> dict:
    """Incidents opened by detection (an alert source or a probe), not declared by hand."""
    try:
        Incident = apps.get_model("incidents", "Incident")
    except LookupError:
        return {"status": "unknown", "evidence": "no incidents recorded here", "links": []}
    rows = Incident.objects.filter(declared_at__gte=since).exclude(source="manual")
    n = rows.count()
    subjects = [f"incident:INC-{i:05d}" for i in rows.order_by("-declared_at").values_list("id", flat=True)[:50]]
    by = ", ".join(sorted(set(rows.values_list("source", flat=True)))) or "none"
    return {
        "status": "pass" if n else "unknown",
        "evidence": f"{n} incident(s) opened by detection in the last 35 days (sources: {by})",
        "links": _incident_links(subjects),
    }


def _notified(steps: list[dict], since) -> dict:
    notify = [s for s in steps if s["action"].startswith("notify.")]
    if notify:
        step = notify[0]
        if step["status"] == "succeeded":
            status = "unknown" if step["data"].get("not_configured") else "pass"
        else:
            status = "unknown" if step["status"] == "skipped" else "fail"
        return {"status": status, "evidence": step["output"], "links": []}
    return _event_item(NOTIFICATION_KINDS, "notifications sent", since)


def _met(rows: list[dict], what: str) -> dict:
    measured = [r for r in rows if r["achieved_s"] is not None]
    if not measured:
        return {"status": "unknown", "evidence": f"no {what} measured in this run", "links": []}
    missed = [r["subject"] for r in measured if not r["met"]]
    text = "; ".join(
        f"{r['subject']} {format_duration(r['achieved_s'])} / target {format_duration(r['target_s'])}" for r in measured
    )
    return {"status": "fail" if missed else "pass", "evidence": text, "links": []}


def _postmortem(run: RecoveryRun) -> dict:
    if not run.incident:
        return {"status": "n/a", "evidence": "no incident attached", "links": []}
    n = Event.objects.filter(subject=f"incident:{run.incident}", kind__startswith="incident.postmortem").count()
    links = [{"label": run.incident, "url": f"/incidents/{run.incident}/postmortem/"}]
    return {
        "status": "pass" if n else "fail",
        "evidence": f"{n} post-mortem event(s) on {run.incident}",
        "links": links,
    }


def checklist(run: RecoveryRun, steps: list[dict], rto: list[dict], rpo: list[dict]) -> list[dict]:
    """The runbook's validation checklist; each item's evidence names the rows it counted and links them."""
    since = timezone.now() - WINDOW
    items = [
        _backups_created(),
        _backups_restorable(steps),
        _detected(since),
        _event_item(("incident.mitigation_succeeded",), "successful mitigations", since),
        _notified(steps, since),
        _statuspage_automatic(since),
        _met(rto, "RTO"),
        _met(rpo, "RPO"),
        _postmortem(run),
        {"status": "manual", "evidence": "confirm docs/recovery.md and the runbook reflect this run", "links": []},
    ]
    return [{"item": name} | verdict for name, verdict in zip(CHECKLIST, items, strict=True)]


def _first(output: str | None) -> str:
    return output.splitlines()[0] if output else ""


def _step_report(s) -> dict:
    return {
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


def build_report(run: RecoveryRun) -> dict:
    steps = [_step_report(s) for s in run.steps.all()]
    rto, rpo = _objectives(run)
    return {
        "id": run.id,
        "kind": run.kind,
        "plan": run.plan,
        "scenario": run.scenario,
        "status": run.status,
        "status_icon": run.status_icon,
        "missing": run.missing,
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

"""The report at the end of every run and drill: steps, RTO/RPO table, the runbook's validation
checklist with evidence. One dict (JSON), rendered as Markdown here and as HTML by a template."""

from __future__ import annotations

from datetime import timedelta

from django.apps import apps
from django.utils import timezone

from pitchey_incidents.models import Event

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
    from django.db.models import Q

    query = Q()
    for p in prefixes:
        query |= Q(kind__startswith=p)
    return Event.objects.filter(query, at__gte=since).count()


def _backup_evidence(steps: list[dict]) -> tuple[dict, dict]:
    try:
        Backup = apps.get_model("backups", "Backup")
    except LookupError:
        none = {"status": "unknown", "evidence": "the backups app has no Backup records here"}
        return none, none
    kinds = ["database", "config", "media"]
    latest = {k: Backup.objects.filter(kind=k, status="succeeded").order_by("-id").first() for k in kinds}
    made = [f"{k}: #{b.id} at {b.snapshot_at:%Y-%m-%d %H:%M}" for k, b in latest.items() if b]
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
            "evidence": f"backup #{verified.id} verified at {verified.verified_at:%Y-%m-%d %H:%M}",
        }
    else:
        verdict = {"status": "fail", "evidence": "no verified database backup"}
    return created, verdict


def _met(rows: list[dict], what: str) -> dict:
    measured = [r for r in rows if r["achieved_s"] is not None]
    if not measured:
        return {"status": "unknown", "evidence": f"no {what} measured in this run"}
    missed = [r["subject"] for r in measured if not r["met"]]
    text = "; ".join(f"{r['subject']} {r['achieved_s']:.0f}s / target {r['target_s']}s" for r in measured)
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


def _fmt(v) -> str:
    return "–" if v is None else f"{v:.1f}s" if isinstance(v, float) else str(v)


def render_markdown(report: dict) -> str:
    title = f"{'Drill' if report['kind'] == 'drill' else 'Recovery run'} #{report['id']}: {report['plan']}"
    lines = [f"# {title}", "", f"- Status: **{report['status']}**" + (" (dry run)" if report["dry_run"] else "")]
    lines += [
        f"- Incident: {report['incident'] or '–'}",
        f"- Started: {report['started_at']}",
        f"- Finished: {report['finished_at']}",
    ]
    if report["kind"] == "drill":
        lines.append(f"- Deviated: {'yes' if report['deviated'] else 'no'}")
    lines += [
        "",
        "## Steps",
        "",
        "| # | Step | Service | Action | Status | Duration | Output |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in report["steps"]:
        out = (s["output"] or "").splitlines()[0][:120] if s["output"] else ""
        lines.append(
            f"| {s['position']} | {s['title']} | {s['service'] or '–'} | `{s['action']}` | {s['status']} | "
            f"{_fmt(s['duration_s'])} | {out.replace('|', '/')} |"
        )
    lines += _objective_tables(report)
    lines += ["", "## Validation checklist", ""]
    for c in report["checklist"]:
        box = "x" if c["status"] == "pass" else " "
        lines.append(f"- [{box}] {c['item']} — {c['status']}: {c['evidence']}")
    return "\n".join(lines) + "\n"


def _objective_tables(report: dict) -> list[str]:
    """The RTO and RPO tables of the markdown report."""
    lines: list[str] = []
    for kind, label in (("rto", "Service"), ("rpo", "Data type")):
        lines += [
            "",
            f"## {kind.upper()}",
            "",
            f"| {label} | Target | Maximum | Achieved | Met |",
            "|---|---|---|---|---|",
        ]
        for o in report[kind]:
            met = "–" if o["met"] is None else ("yes" if o["met"] else "no")
            lines.append(
                f"| {o['name'] or o['subject']} | {o['target_s']}s | {o['max_s']}s | {_fmt(o['achieved_s'])} | {met} |"
            )
    return lines

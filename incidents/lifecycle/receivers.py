"""How the incidents app hears from recovery (which never imports incidents)."""

from __future__ import annotations

from django.db import transaction

from incidents.lifecycle import selectors, services
from incidents.lifecycle.models import parse_public_id
from recovery import hooks, signals
from recovery.models import Severity


def resolve_incident(public_id: str) -> dict | None:
    incident = selectors.incident_find(public_id)
    if incident is None:
        return None
    return {
        "public_id": incident.public_id,
        "declared_at": incident.declared_at,
        "started_at": incident.detected_at or incident.declared_at,
    }


def step_on_timeline(sender: object, *, run: dict, step: dict, **_: object) -> None:
    """Each step of a run attached to an incident goes on its timeline."""
    number = parse_public_id(run.get("incident") or "")
    if not number or step["status"] == "pending":
        return
    services.incident_note(
        incident=number,
        actor="recovery",
        kind="recovery_step",
        message=f"Recovery run #{run['id']} ({run['plan']}{', dry run' if run['dry_run'] else ''}): "
        f"{step['title']} — {step['status']}" + (f": {step['output'].splitlines()[0][:300]}" if step["output"] else ""),
        data={"run": run["id"], "step": step["name"], "status": step["status"]},
    )


def drill_incident(sender: object, *, run: dict, **_: object) -> None:
    """A failed or deviated drill opens a P2 incident, and so does a scheduled drill that proved
    nothing (inconclusive): the runbook expects someone to fix what is missing."""
    if run["kind"] != "drill":
        return
    if run["status"] == "failed":
        verdict = "failed"
    elif run["status"] == "inconclusive" and run.get("scheduled"):
        verdict = "inconclusive"
    elif run["deviated"]:
        verdict = "deviated"
    else:
        return
    missing = "; ".join(f"{m['what']}: {m['hint']}" for m in run.get("missing") or [])
    description = f"Drill #{run['id']} {verdict}: {run.get('summary', '')}."
    if missing:
        description += f" Configure: {missing}."
    transaction.on_commit(
        lambda: services.incident_declare(
            severity=Severity.P2,
            title=f"DR drill {run['plan']} {verdict}",
            description=f"{description} Report: {run.get('report_url', '')}",
            actor="recovery",
        )
    )


def switch_overdue_incident(sender: object, *, flag: dict, **_: object) -> None:
    """Read-only or maintenance mode left on: a P3, so that somebody decides to turn it off."""
    since = flag["enabled_at"].isoformat(timespec="seconds") if flag.get("enabled_at") else "?"
    who = f" by {flag['changed_by']}" if flag.get("changed_by") else ""
    why = f" for {flag['incident']}" if flag.get("incident") else ""
    services.incident_declare(
        severity=Severity.P3,
        title=f"{flag['label']} still on",
        description=f"{flag['name']} has been on since {since}{who}{why} ({', '.join(flag['backends'])}). "
        "Turn it off at /controls/ if it is no longer needed.",
        actor="recovery",
    )


def connect() -> None:
    hooks.register("resolve_incident", resolve_incident)
    hooks.register("detected_incidents", selectors.detected_incidents)
    signals.run_step_changed.connect(step_on_timeline, dispatch_uid="incidents.step_on_timeline")
    signals.run_finished.connect(drill_incident, dispatch_uid="incidents.drill_incident")
    signals.switch_overdue.connect(switch_overdue_incident, dispatch_uid="incidents.switch_overdue_incident")

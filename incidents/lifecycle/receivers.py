"""How the incidents app hears from recovery (which never imports incidents)."""

from __future__ import annotations

from django.db import transaction

from incidents.lifecycle import services
from incidents.lifecycle.models import Incident, parse_public_id
from recovery import hooks, signals
from recovery.models import Severity


def resolve_incident(public_id: str) -> dict | None:
    number = parse_public_id(str(public_id))
    incident = Incident.objects.filter(id=number).first() if number else None
    if incident is None:
        return None
    return {
        "public_id": incident.public_id,
        "declared_at": incident.declared_at,
        "started_at": incident.detected_at or incident.declared_at,
    }


def step_on_timeline(sender, *, run: dict, step: dict, **_) -> None:
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


def drill_incident(sender, *, run: dict, **_) -> None:
    """A failed or deviated drill opens a P2 incident."""
    if run["kind"] != "drill" or not (run["status"] == "failed" or run["deviated"]):
        return
    verdict = "failed" if run["status"] == "failed" else "deviated"
    transaction.on_commit(
        lambda: services.incident_declare(
            severity=Severity.P2,
            title=f"DR drill {run['plan']} {verdict}",
            description=f"Drill #{run['id']} {verdict}: {run.get('summary', '')}. Report: {run.get('report_url', '')}",
            actor="recovery",
        )
    )


def connect() -> None:
    hooks.register("resolve_incident", resolve_incident)
    signals.run_step_changed.connect(step_on_timeline, dispatch_uid="incidents.step_on_timeline")
    signals.run_finished.connect(drill_incident, dispatch_uid="incidents.drill_incident")

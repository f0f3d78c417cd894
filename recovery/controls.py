"""Emergency controls: the runbook's "Critical Commands", run now by a commander, and the one audit
trail (``ControlRun``) that controls and incident mitigations share.

Every run is a row written *before* it starts (a run that crashes the process is still on record),
finished with its outcome, what each back end did, the exact requests sent (secrets masked) and its
undo. An idempotency key makes a double click run once. A dry run is the preview: the same code,
with every request it would send recorded and none sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from pitchey_incidents import events
from pitchey_incidents.errors import DomainError
from pitchey_incidents.outcome import Outcome

from . import runcontext
from .actions import REGISTRY, get_action
from .models import ControlRun, ControlRunStatus, RuntimeFlag


@dataclass(frozen=True)
class Control:
    name: str  # the API's name for it
    action: str  # the action it runs
    group: str
    confirm: str  # what the confirmation checkbox says
    undo: str = ""  # how it is undone, in words


EMERGENCY_CONTROLS: list[Control] = [
    Control("read_only_on", "enable_read_only", "Read-only mode", "Stop all writes to the platform", "Turn off"),
    Control("read_only_off", "disable_read_only", "Read-only mode", "Allow writes again"),
    Control("maintenance_on", "enable_maintenance", "Maintenance mode", "Show the maintenance page", "Turn off"),
    Control("maintenance_off", "disable_maintenance", "Maintenance mode", "End maintenance"),
    Control("purge_edge_cache", "purge_edge_cache", "Cache", "Purge Cloudflare's edge cache", "None: it refills"),
    Control("flush_app_cache", "flush_app_cache", "Cache", "Flush every key of the application cache", "None"),
    Control("emergency_backup", "emergency_backup", "Database", "Take a database backup now", "None needed"),
    Control("scale_database", "scale_database", "Database", "Change the database's compute", "Scale back"),
    Control(
        "kill_idle_connections",
        "terminate_idle_connections",
        "Database",
        "Terminate the idle sessions listed by the dry run",
        "None: clients reconnect",
    ),
    Control("rollback_deploy", "rollback_deploy", "Deployment", "Roll the Worker back", "Forward again"),
]
BY_NAME = {c.name: c for c in EMERGENCY_CONTROLS}
BY_ACTION = {c.action: c for c in EMERGENCY_CONTROLS}


def control_named(name: str) -> Control:
    """A control by its API name or its action's name; ``DomainError`` naming the known ones."""
    found = BY_NAME.get(name) or BY_ACTION.get(name)
    if found is None:
        raise DomainError(f"unknown control {name!r}; known: {', '.join(BY_NAME)}", field="name")
    return found


def _claim(*, name: str, action: str, params: dict, actor: str, incident: str, dry_run: bool, source: str, key):
    """The run's row, or the row an earlier request with the same idempotency key made."""
    try:
        with transaction.atomic():
            return ControlRun.objects.create(
                name=name,
                action=action,
                source=source,
                params=params,
                actor=actor,
                incident=incident or "",
                dry_run=dry_run,
                idempotency_key=key or None,
            ), True
    except IntegrityError:
        return ControlRun.objects.get(idempotency_key=key), False


def _finish(run: ControlRun, result: Outcome, requests: list[dict]) -> ControlRun:
    data = result.data or {}
    if result.ok:
        status = ControlRunStatus.SUCCEEDED
    else:
        status = ControlRunStatus.PARTIAL if data.get("partial") else ControlRunStatus.FAILED
    run.status, run.output, run.requests = status, result.output[:4000], requests
    run.backends = data.get("backends") or {}
    run.data = {k: v for k, v in data.items() if k not in ("backends", "connection_uri")}
    run.undo = {} if run.dry_run else get_action(run.action).undo(run.params, result)
    run.finished_at = timezone.now()
    run.save()
    return run


def action_execute(
    *,
    action: str,
    params: dict | None = None,
    actor: str,
    incident: str = "",
    dry_run: bool = False,
    source: str = "control",
    name: str = "",
    idempotency_key: str | None = None,
) -> ControlRun:
    """Run one action now, on the audit trail: validate (``DomainError`` naming the field, nothing
    written); claim the row (an idempotency key seen before answers with that run); run it inline,
    recording each request (a crash is a failed outcome); finish the row; tell the event log."""
    if not isinstance(actor, str) or not actor:
        raise DomainError("must name who runs the control", field="actor")
    impl = get_action(action)
    cleaned = impl.clean(params)
    row = {"name": name or action, "action": action, "params": cleaned, "actor": actor, "incident": incident}
    run, fresh = _claim(**row, dry_run=dry_run, source=source, key=idempotency_key)
    if not fresh:
        run.replayed = True  # the answer of the first request with this key; nothing ran again
        return run
    events.audit(actor=actor, action=f"control.{action}", target=impl.label, dry_run=dry_run, data={"params": cleaned})
    with runcontext.running(actor=actor, incident=incident) as context:
        try:
            result = impl.run(cleaned, dry_run=dry_run)
        except Exception as exc:  # an action's failure is the run's outcome, not a crash
            result = Outcome(False, f"{exc.__class__.__name__}: {exc}".splitlines()[0][:2000])
    run = _finish(run, result, context.requests)
    _after(run)
    return run


def _after(run: ControlRun) -> None:
    """A switch turned off retires the undo of the runs that turned it on; the event log hears of it."""
    flag = {"disable_read_only": "READ_ONLY_MODE", "disable_maintenance": "MAINTENANCE_MODE"}.get(run.action)
    platform = not (run.params or {}).get("scratch")  # a drill's scratch Worker is no switch of the platform's
    if flag and platform and not run.dry_run and not RuntimeFlag.objects.filter(name=flag, enabled=True).exists():
        turned_on = "enable_read_only" if flag == "READ_ONLY_MODE" else "enable_maintenance"
        ControlRun.objects.filter(action=turned_on, undone_by__isnull=True).exclude(undo={}).update(undone_by=run)
    events.emit(
        f"control.{'succeeded' if run.ok else 'failed'}",
        f"control:{run.name}",
        {"action": run.action, "actor": run.actor, "dry_run": run.dry_run, "ok": run.ok, "output": run.output[:2000]},
    )


def control_run(
    *,
    action: str,
    params: dict | None = None,
    actor: str,
    dry_run: bool = False,
    incident: str = "",
    idempotency_key: str | None = None,
) -> ControlRun:
    """Run an emergency control (by its name or its action's) as ``actor``."""
    if not isinstance(action, str) or not action:
        raise DomainError("must be a control name", field="action")
    name = BY_ACTION[action].name if action in BY_ACTION else action
    if name not in BY_NAME and action not in REGISTRY:
        raise DomainError(f"unknown control {action!r}; known: {', '.join(BY_NAME)}", field="action")
    target = BY_NAME[name].action if name in BY_NAME else action
    return action_execute(
        action=target,
        params=params,
        actor=actor,
        incident=incident,
        dry_run=dry_run,
        name=name,
        idempotency_key=idempotency_key,
    )


def control_undo(*, run_id: int, actor: str, idempotency_key: str | None = None) -> ControlRun:
    """Run the undo recorded on a run (scale back, forward again, turn off), once."""
    with transaction.atomic():
        run = ControlRun.objects.select_for_update().filter(id=run_id).first()
        if run is None:
            raise DomainError("no such control run", field="run")
        if not run.undo_available:
            raise DomainError("this run has nothing to undo (or it was undone already)", field="run")
    undo = action_execute(
        action=run.undo["action"],
        params=run.undo.get("params") or {},
        actor=actor,
        incident=run.incident,
        name=f"undo:{run.name}",
        idempotency_key=idempotency_key or f"undo:{run.id}",
    )
    if undo.status == ControlRunStatus.FAILED:  # free the key, so that the undo can be tried again
        ControlRun.objects.filter(id=undo.id).update(idempotency_key=None)
    else:
        ControlRun.objects.filter(id=run.id, undone_by__isnull=True).update(undone_by=undo)
    return undo


def control_state(control: Control) -> dict:
    """``{name, title, configured, state, undo}`` as the API lists it."""
    impl = get_action(control.action)
    configured, why = impl.available()
    flag = getattr(impl, "flag", "")
    state, switching = "", None
    if flag:
        row = RuntimeFlag.objects.filter(name=flag).first()
        state = "on" if row and row.enabled else "off"
        if row and row.switching:
            switching = {"to": row.switching_to, "by": row.switching_by, "since": row.switching_since}
    return {
        "name": control.name,
        "action": control.action,
        "title": impl.label,
        "group": control.group,
        "configured": configured,
        "hint": why,
        "state": state,
        "switching": switching,
        "undo": control.undo,
    }


def open_undos(*, incident: str = "") -> list[ControlRun]:
    """Runs whose undo is still offered (newest first), of one incident or of all."""
    runs = ControlRun.objects.filter(undone_by__isnull=True, dry_run=False).exclude(undo={})
    if incident:
        runs = runs.filter(incident=incident)
    return [r for r in runs.exclude(status=ControlRunStatus.FAILED)[:50] if r.undo_available]


def run_answer(run: ControlRun) -> dict:
    """The API's answer for a run: ``{name, dry_run, requests, result, undo, …}``."""
    return {
        "id": run.id,
        "name": run.name,
        "action": run.action,
        "source": run.source,
        "actor": run.actor,
        "incident": run.incident or None,
        "dry_run": run.dry_run,
        "status": run.status,
        "requests": [{k: r[k] for k in ("method", "url", "body", "sent")} for r in run.requests],
        "backends": run.backends,
        "result": {"ok": run.ok, "status": run.status, "output": run.output, "data": run.data},
        "undo": run.undo if run.undo_available else None,
        "replayed": run.replayed,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
    }


def left_on(*, incident: str) -> list[str]:
    """What an incident turned on and nobody turned off yet, as reminders for its resolution."""
    lines = [
        f"{flag.name} is still on ({', '.join(flag.backends_on)}), turned on for {incident}: turn it off at /controls/"
        for flag in RuntimeFlag.objects.filter(enabled=True, incident=incident)
    ]
    for run in open_undos(incident=incident):
        if run.action not in ("enable_read_only", "enable_maintenance") or run.params.get("scratch"):
            lines.append(f"{run.undo.get('label', 'Undo')} ({run.name} #{run.id}) is offered at /controls/")
    return lines


def control_runs_sweep(*, running_after_s: int = 900) -> int:
    """Runs whose process died while running stay on record, marked failed: nobody may take a run
    that never finished for done. Returns how many were marked."""
    cutoff = timezone.now() - timezone.timedelta(seconds=running_after_s)
    return ControlRun.objects.filter(status=ControlRunStatus.RUNNING, started_at__lt=cutoff).update(
        status=ControlRunStatus.FAILED,
        finished_at=timezone.now(),
        output="the process running it was lost before it finished: check each back end before running it again",
    )

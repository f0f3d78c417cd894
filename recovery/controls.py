"""Emergency controls: the runbook's "Critical Commands", run now, outside any incident.

A control is a mitigation action from the registry run inline by a commander. Every run is written
to the audit trail *before* it starts (so a run that crashes the process is still on record), and
its outcome is appended to the event log, which the dashboard streams.
"""

from __future__ import annotations

from dataclasses import dataclass

from pitchey_incidents import events
from pitchey_incidents.errors import DomainError
from pitchey_incidents.outcome import Outcome

from .actions import get_action


@dataclass(frozen=True)
class Control:
    action: str
    group: str
    confirm: str  # what the confirmation checkbox says


# The emergency controls page shows these, grouped; other issues append theirs (backup, rollback…).
EMERGENCY_CONTROLS: list[Control] = [
    Control("enable_read_only", "Read-only mode", "Stop all writes to the platform"),
    Control("disable_read_only", "Read-only mode", "Allow writes again"),
    Control("enable_maintenance", "Maintenance mode", "Show the maintenance page to every user"),
    Control("disable_maintenance", "Maintenance mode", "End maintenance"),
    Control("purge_cache", "Cache", "Flush every key in the cache"),
]


def control_run(*, action: str, params: dict | None = None, actor: str, dry_run: bool = False) -> Outcome:
    """Run one action now.

    1. Validate the action name and its parameters with the registry (``DomainError`` naming the field).
    2. Write the audit entry (actor, action, parameters, dry run).
    3. Run it inline; an exception is the run's failed outcome, not a crash.
    4. Append ``control.succeeded`` / ``control.failed`` to the event log.
    """
    if not isinstance(action, str) or not action:
        raise DomainError("must be an action name", field="action")
    if not isinstance(actor, str) or not actor:
        raise DomainError("must name who runs the control", field="actor")
    impl = get_action(action)
    cleaned = impl.clean(params)
    events.audit(actor=actor, action=f"control.{action}", target=impl.label, dry_run=dry_run, data={"params": cleaned})
    try:
        result = impl.run(cleaned, dry_run=dry_run)
    except Exception as exc:  # an action's failure is the control's outcome
        result = Outcome(False, f"{exc.__class__.__name__}: {exc}".splitlines()[0][:2000])
    events.emit(
        f"control.{'succeeded' if result.ok else 'failed'}",
        f"control:{action}",
        {"action": action, "actor": actor, "dry_run": dry_run, "ok": result.ok, "output": result.output[:2000]},
    )
    return result

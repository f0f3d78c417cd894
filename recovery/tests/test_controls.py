"""control_run: validate with the registry, audit first, run inline, report through the event log."""

import pytest

from pitchey_incidents.errors import DomainError
from pitchey_incidents.models import AuditEntry, Event
from recovery.actions import REGISTRY
from recovery.controls import EMERGENCY_CONTROLS, control_run
from recovery.models import RuntimeFlag


@pytest.mark.django_db
def test_runs_the_action_and_audits_it():
    result = control_run(action="enable_maintenance", actor="alice")
    assert result.ok and result.output.startswith("MAINTENANCE_MODE is on (changed: flags)")
    assert RuntimeFlag.objects.get(name="MAINTENANCE_MODE").enabled
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.action, entry.target, entry.dry_run) == (
        "alice",
        "control.enable_maintenance",
        "Enable maintenance mode",
        False,
    )
    event = Event.objects.get(kind="control.succeeded")
    assert event.subject == "control:maintenance_on" and event.data["actor"] == "alice"


@pytest.mark.django_db
def test_bad_params_are_refused_before_anything_is_audited():
    with pytest.raises(DomainError) as err:
        control_run(action="terminate_idle_connections", params={"idle_minutes": "x"}, actor="alice")
    assert err.value.field == "params.idle_minutes"
    with pytest.raises(DomainError) as err:
        control_run(action="nope", actor="alice")
    assert err.value.field == "action"
    assert not AuditEntry.objects.exists()


@pytest.mark.django_db
def test_a_failing_action_is_an_outcome_not_a_crash(settings):
    settings.ALLOWED_COMMANDS = {"boom": "/nonexistent/binary"}
    result = control_run(action="run_command", params={"command": "boom"}, actor="alice")
    assert not result.ok and "could not start" in result.output
    assert AuditEntry.objects.count() == 1 and Event.objects.filter(kind="control.failed").exists()


def test_every_listed_control_exists():

    assert all(c.action in REGISTRY for c in EMERGENCY_CONTROLS)

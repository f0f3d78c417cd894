"""Switches left on are not forgotten: a reminder on the timeline when the incident that turned them
on is resolved (with the scale back it left), and a P3 when nobody turned them off in time."""

import pytest

from incidents.lifecycle import services
from incidents.lifecycle.models import Incident
from recovery.controls import control_run, control_runs_sweep
from recovery.models import ControlRun
from recovery.switches import switches_overdue


@pytest.fixture
def nothing_outside(settings):
    settings.CF_API_TOKEN = ""
    settings.TARGET_DATABASE_URL = ""


def test_resolving_the_incident_that_turned_read_only_on_reminds_of_it(users, nothing_outside, neon_server, clock):
    incident = services.incident_declare(severity="P1", title="Writes corrupting data", actor=users["commander"])
    control_run(action="read_only_on", actor="commander", incident=incident.public_id)
    control_run(action="scale_database", params={"size": "large"}, actor="commander", incident=incident.public_id)
    other = services.incident_declare(severity="P3", title="unrelated", actor=users["commander"])
    services.incident_resolve(incident=other, resolution="fine", actor=users["commander"])
    assert not other.timeline.filter(kind="reminder").exists()
    services.incident_resolve(incident=incident, resolution="Data repaired", actor=users["commander"])
    reminder = incident.timeline.get(kind="reminder")
    assert "READ_ONLY_MODE is still on (flags)" in reminder.message
    assert "Scale back to 1.0–2.0 CU (scale_database" in reminder.message
    assert "/controls/" in reminder.message


def test_a_switch_left_on_too_long_opens_one_p3(
    users, nothing_outside, settings, clock, django_capture_on_commit_callbacks
):
    settings.SWITCH_OVERDUE_AFTER_S = 3600
    control_run(action="maintenance_on", actor="alice", incident="INC-00042")
    clock.advance(minutes=59)
    with django_capture_on_commit_callbacks(execute=True):
        assert switches_overdue() == []
    clock.advance(minutes=2)
    with django_capture_on_commit_callbacks(execute=True):
        assert switches_overdue() == ["MAINTENANCE_MODE"]
        assert switches_overdue() == []  # announced once
    p3 = Incident.objects.get(severity="P3")
    assert p3.title == "Maintenance mode still on"
    assert "by alice for INC-00042" in p3.description and "/controls/" in p3.description


def test_a_switch_turned_off_in_time_opens_nothing(
    users, nothing_outside, settings, clock, django_capture_on_commit_callbacks
):
    settings.SWITCH_OVERDUE_AFTER_S = 3600
    control_run(action="read_only_on", actor="alice")
    control_run(action="read_only_off", actor="alice")
    clock.advance(hours=5)
    with django_capture_on_commit_callbacks(execute=True):
        assert switches_overdue() == []
    assert not Incident.objects.exists()


def test_a_run_whose_process_died_is_marked_failed_not_left_running(db, clock):
    lost = ControlRun.objects.create(name="read_only_on", action="enable_read_only", actor="alice")
    clock.advance(minutes=10)
    fresh = ControlRun.objects.create(name="maintenance_on", action="enable_maintenance", actor="bob")
    clock.advance(minutes=6)
    assert control_runs_sweep() == 1
    lost.refresh_from_db(), fresh.refresh_from_db()
    assert lost.status == "failed" and "lost before it finished" in lost.output and fresh.status == "running"

"""The incident state machine: every transition, every forbidden one, timeline and events, actors."""

from datetime import timedelta

import pytest

from incidents.lifecycle import services
from incidents.lifecycle.models import Incident, Mitigation, Status, TimelineEntry
from incidents.postmortems import services as postmortem_services
from incidents.postmortems.models import SECTION_NAMES
from pitchey_incidents.errors import DomainError, InvalidTransition
from pitchey_incidents.models import Event
from recovery.models import RuntimeFlag

pytestmark = pytest.mark.django_db


@pytest.fixture
def incident(users):
    return services.incident_declare(
        severity="P1",
        title="High error rate",
        description="5xx > 50%",
        services=["api", "database"],
        actor=users["commander"],
    )


def kinds(incident):
    return list(TimelineEntry.objects.filter(incident=incident).values_list("kind", flat=True))


def test_declare_writes_timeline_and_event(incident):
    assert incident.public_id == f"INC-{incident.pk:05d}"
    assert incident.status == Status.TRIGGERED and incident.public_status == "investigating"
    assert sorted(s.slug for s in incident.services.all()) == ["api", "database"]
    entry = TimelineEntry.objects.get(incident=incident)
    assert (entry.kind, entry.actor) == ("declared", "commander")
    event = Event.objects.get(subject=incident.subject)
    assert event.kind == "incident.declared" and event.data["timeline_id"] == entry.id


@pytest.mark.parametrize(
    "field,kwargs",
    [
        ("severity", {"severity": "P9"}),
        ("title", {"title": "   "}),
        ("title", {"title": "x" * 201}),
        ("services", {"services": ["nope"]}),
    ],
)
def test_declare_rejects_bad_input_and_changes_nothing(users, field, kwargs):
    args = {"severity": "P2", "title": "ok", "services": [], "actor": users["commander"]} | kwargs
    with pytest.raises(DomainError) as err:
        services.incident_declare(**args)
    assert err.value.field == field
    assert Incident.objects.count() == 0 and Event.objects.count() == 0


def test_full_lifecycle(incident, users, django_capture_on_commit_callbacks):
    services.incident_acknowledge(incident=incident, actor=users["responder"])
    incident.refresh_from_db()
    assert incident.status == "acknowledged" and incident.acknowledged_at
    assert incident.commander == users["responder"]  # the first to acknowledge takes command
    services.incident_assign(incident=incident, commander="commander", actor=users["commander"])
    services.incident_change_severity(
        incident=incident, severity="P0", reason="customers affected", actor=users["commander"]
    )
    services.incident_post_update(
        incident=incident, public_status="identified", message="Bad deploy", actor=users["responder"]
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.mitigation_start(incident=incident, action="enable_maintenance", actor=users["responder"], inline=True)
    services.incident_escalate(incident=incident, actor=users["commander"], reason="need DBA")
    services.incident_monitor(incident=incident, actor=users["commander"])
    _resolve_and_close_with_the_postmortem(incident, users)
    _assert_the_record(incident)


def _resolve_and_close_with_the_postmortem(incident, users):
    services.incident_resolve(incident=incident, resolution="Rolled back", actor=users["commander"])
    # Closing waits for the post-mortem (docs/postmortems.md); completing it closes the incident.
    with pytest.raises(InvalidTransition):
        services.incident_close(incident=incident, actor="system")
    sections = {name: "written" for name in SECTION_NAMES}
    postmortem_services.postmortem_update(incident=incident, actor="system", sections=sections)
    postmortem_services.postmortem_complete(incident=incident, actor="system")
    incident.refresh_from_db()
    assert incident.status == "closed" and incident.severity == "P0" and incident.escalation_level == 1
    assert incident.public_status == "resolved" and incident.resolution == "Rolled back"
    assert incident.commander.username == "commander"
    assert incident.resolved_at >= incident.mitigated_at >= incident.acknowledged_at >= incident.declared_at


def _assert_the_record(incident):
    assert kinds(incident) == [
        "declared",
        "acknowledged",
        "assigned",
        "severity_changed",
        "status_update",
        "mitigation_requested",
        "mitigation_succeeded",
        "escalated",
        "paged",  # the escalate action pages the new level (docs/communications.md)
        "monitoring",
        "resolved",
        "reminder",  # read-only, turned on by the mitigation, is still on (docs/controls.md)
        "postmortem_opened",
        "postmortem_updated",
        "postmortem_completed",
        "closed",
    ]
    actors = list(TimelineEntry.objects.filter(incident=incident).values_list("actor", flat=True))
    assert actors == [
        "commander",
        "responder",
        "commander",
        "commander",
        "responder",
        "responder",
        "system",
        "commander",
        "commander",  # paged the new escalation level
        "commander",
        "commander",
        "system",  # the reminder of what is still on
        "commander",  # the post-mortem opens as the incident resolves
        "system",
        "system",
        "system",
    ]
    assert Event.objects.filter(subject=incident.subject).count() == len(actors) + 1  # + mitigation running


FORBIDDEN = [
    # (path to reach the state, the forbidden call)
    ("acknowledged", "acknowledge"),
    ("resolved", "acknowledge"),
    ("resolved", "resolve"),
    ("resolved", "monitor"),
    ("resolved", "escalate"),
    ("resolved", "severity"),
    ("resolved", "update"),
    ("resolved", "assign"),
    ("resolved", "mitigate"),
    ("triggered", "close"),
    ("monitoring", "close"),
    ("monitoring", "monitor"),
]


def reach(incident, state, actor):
    if state in ("acknowledged",):
        services.incident_acknowledge(incident=incident, actor=actor)
    if state == "monitoring":
        services.incident_monitor(incident=incident, actor=actor)
    if state == "resolved":
        services.incident_resolve(incident=incident, resolution="done", actor=actor)


def call(name, incident, actor):
    return {
        "acknowledge": lambda: services.incident_acknowledge(incident=incident, actor=actor),
        "resolve": lambda: services.incident_resolve(incident=incident, resolution="again", actor=actor),
        "monitor": lambda: services.incident_monitor(incident=incident, actor=actor),
        "escalate": lambda: services.incident_escalate(incident=incident, actor=actor),
        "severity": lambda: services.incident_change_severity(
            incident=incident, severity="P3", reason="r", actor=actor
        ),
        "update": lambda: services.incident_post_update(
            incident=incident, public_status="monitoring", message="m", actor=actor
        ),
        "assign": lambda: services.incident_assign(incident=incident, commander="commander", actor=actor),
        "mitigate": lambda: services.mitigation_start(incident=incident, action="purge_cache", actor=actor),
        "close": lambda: services.incident_close(incident=incident, actor=actor),
    }[name]()


@pytest.mark.parametrize("state,forbidden", FORBIDDEN)
def test_forbidden_transitions_raise_and_change_nothing(incident, users, state, forbidden):
    reach(incident, state, users["commander"])
    incident.refresh_from_db()
    before = (incident.status, incident.severity, incident.escalation_level, kinds(incident))
    with pytest.raises(InvalidTransition) as err:
        call(forbidden, incident, users["commander"])
    assert err.value.current_status == incident.status
    incident.refresh_from_db()
    assert (incident.status, incident.severity, incident.escalation_level, kinds(incident)) == before


def test_escalation_stops_at_the_top_level(incident, users):
    for level in range(1, 5):
        assert services.incident_escalate(incident=incident, actor="system").escalation_level == level
    with pytest.raises(InvalidTransition):
        services.incident_escalate(incident=incident, actor="system")


def test_assign_needs_an_existing_responder(incident, users):
    with pytest.raises(DomainError) as err:
        services.incident_assign(incident=incident, commander="ghost", actor=users["commander"])
    assert err.value.field == "commander"
    with pytest.raises(DomainError) as err:
        services.incident_assign(incident=incident, commander="viewer", actor=users["commander"])
    assert err.value.field == "commander"


def test_same_severity_and_missing_reason_are_bad_input(incident, users):
    with pytest.raises(DomainError) as err:
        services.incident_change_severity(incident=incident, severity="P1", reason="x", actor=users["commander"])
    assert err.value.field == "severity"
    with pytest.raises(DomainError) as err:
        services.incident_change_severity(incident=incident, severity="P0", reason=" ", actor=users["commander"])
    assert err.value.field == "reason"


def test_mitigation_validates_action_and_params(incident, users):
    with pytest.raises(DomainError) as err:
        services.mitigation_start(incident=incident, action="rm_rf", actor=users["responder"])
    assert err.value.field == "action"
    with pytest.raises(DomainError) as err:
        services.mitigation_start(
            incident=incident,
            action="terminate_idle_connections",
            params={"idle_minutes": "soon"},
            actor=users["responder"],
        )
    assert err.value.field == "params.idle_minutes"
    with pytest.raises(DomainError) as err:
        services.mitigation_start(incident=incident, action="purge_cache", params={"x": 1}, actor=users["responder"])
    assert err.value.field == "params"
    incident.refresh_from_db()
    assert incident.status == "triggered" and incident.mitigations.count() == 0


def test_inline_mitigation_records_outcome_and_dry_run_changes_nothing(
    incident, users, django_capture_on_commit_callbacks
):

    with django_capture_on_commit_callbacks(execute=True):
        dry = services.mitigation_start(
            incident=incident, action="enable_read_only", actor=users["responder"], dry_run=True, inline=True
        )
    dry.refresh_from_db()
    assert dry.status == "succeeded" and dry.output.startswith("would turn READ_ONLY_MODE on")
    assert not RuntimeFlag.objects.filter(name="READ_ONLY_MODE", enabled=True).exists()
    incident.refresh_from_db()
    assert incident.status == "triggered"  # a dry run is not a mitigation
    with django_capture_on_commit_callbacks(execute=True):
        real = services.mitigation_start(
            incident=incident, action="enable_read_only", actor=users["responder"], inline=True
        )
    real.refresh_from_db()
    assert real.status == "succeeded" and RuntimeFlag.objects.get(name="READ_ONLY_MODE").enabled
    incident.refresh_from_db()
    assert incident.status == "mitigating" and incident.acknowledged_at is not None


def test_a_claimed_mitigation_never_runs_twice(incident, users, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        m = services.mitigation_start(
            incident=incident, action="enable_maintenance", actor=users["responder"], inline=True
        )
    assert services.mitigation_execute(mitigation_id=m.id) is None
    assert incident.timeline.filter(kind="mitigation_succeeded").count() == 1


def test_sweeper_fails_mitigations_whose_worker_died(clock, incident, users):

    m = Mitigation.objects.create(
        incident=incident,
        action="purge_cache",
        requested_by="x",
        status="running",
        started_at=clock.now - timedelta(hours=1),
    )
    assert services.mitigations_sweep() == {"redispatched": 0, "failed": 1}
    m.refresh_from_db()
    assert m.status == "failed" and "worker lost" in m.output

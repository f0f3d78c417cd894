"""Escalation: levels fire in order until acknowledged, from timers in the database, on a real
worker with beat, across a worker restart; the escalate action pages the next level at once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents.comms.channels import REGISTRY
from incidents.comms.models import EscalationTarget, EscalationTimer, Notification, OnCallMember, OnCallRotation
from incidents.comms.services import escalation_fire_due
from incidents.lifecycle import services
from incidents.lifecycle.models import EscalationLevel
from pitchey_incidents.errors import InvalidTransition
from pitchey_incidents.testing import wait_for


def paged_levels(incident) -> list[int]:
    return [e.data["level"] for e in incident.timeline.filter(kind="paged").order_by("at", "id")]


@pytest.fixture
def second_levels(db):
    """The runbook's four levels, with seconds instead of minutes. Level 3 comes due while no worker runs;
    level 4 so late that the test acknowledges first, however slowly a worker starts on a busy machine."""
    for level, delay in ((1, 0), (2, 1), (3, 6), (4, 120)):
        EscalationLevel.objects.filter(level=level).update(delay_s=delay)


@pytest.mark.django_db
def test_timers_come_from_the_levels_and_fire_in_order_until_acknowledged(users, vendors, clock):
    incident = services.incident_declare(severity="P0", title="Outage", actor=users["commander"])
    timers = list(EscalationTimer.objects.filter(incident=incident).order_by("level"))
    assert [(t.level, round((t.due_at - incident.declared_at).total_seconds())) for t in timers] == [
        (1, 0),
        (2, 300),
        (3, 900),
        (4, 1800),
    ]
    assert escalation_fire_due() == 1  # level 1 is due at declaration
    EscalationTimer.objects.filter(incident=incident, level=2).update(due_at=clock.now)
    assert escalation_fire_due() == 1
    assert escalation_fire_due() == 0  # claimed rows never fire twice
    incident.refresh_from_db()
    assert incident.escalation_level == 2 and paged_levels(incident) == [1, 2]
    services.incident_acknowledge(incident=incident, actor=users["responder"])
    assert not EscalationTimer.objects.filter(incident=incident, fired_at=None, cancelled_at=None).exists()
    EscalationTimer.objects.filter(incident=incident).update(due_at=clock.now - timedelta(seconds=1))
    assert escalation_fire_due() == 0 and paged_levels(incident) == [1, 2]


@pytest.mark.django_db
def test_p2_does_not_auto_page_but_escalate_pages_the_next_level_at_once(users, vendors, clock):
    rotation = OnCallRotation.objects.create(name="primary", handoff_at=clock.now - timedelta(hours=1), shift_s=86400)
    OnCallMember.objects.create(rotation=rotation, user=users["responder"], position=0)
    EscalationTarget.objects.create(level=EscalationLevel.objects.get(level=1), rotation=rotation)
    EscalationTarget.objects.create(level=EscalationLevel.objects.get(level=2), user=users["commander"])
    incident = services.incident_declare(severity="P2", title="Slow search", actor=users["commander"])
    assert not EscalationTimer.objects.filter(incident=incident).exists()
    assert not Notification.objects.filter(incident=incident, channel="pagerduty").exists()

    services.incident_escalate(incident=incident, actor=users["commander"])
    (entry,) = incident.timeline.filter(kind="paged")
    assert entry.message == "Paged Primary on-call (level 1): responder"
    page = Notification.objects.get(incident=incident, channel="slack", kind="page")
    assert page.target == "warning" and page.context["targets"] == ["responder"]
    assert Notification.objects.filter(incident=incident, channel="pagerduty", kind="page").count() == 1

    services.incident_acknowledge(incident=incident, actor=users["responder"])
    services.incident_escalate(incident=incident, actor=users["commander"])  # allowed once acknowledged
    assert paged_levels(incident) == [1, 2]
    assert incident.timeline.filter(kind="paged").last().message == "Paged Secondary on-call (level 2): commander"
    # PagerDuty was triggered once, by the first page; it runs its own escalation from there
    assert Notification.objects.filter(incident=incident, channel="pagerduty", kind="page").count() == 1
    for _ in range(2):
        services.incident_escalate(incident=incident, actor=users["commander"])
    with pytest.raises(InvalidTransition):
        services.incident_escalate(incident=incident, actor=users["commander"])


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clean_broker", "second_levels")
def test_second_long_levels_fire_in_order_survive_a_worker_restart_and_stop_on_acknowledge(worker, vendors, users):
    env = {**vendors.env, "ESCALATION_TICK_S": "0.3", "NOTIFICATION_SWEEP_S": "1"}
    first = worker(beat=True, **env)
    incident = services.incident_declare(severity="P0", title="Database Outage", actor=users["commander"])

    def pages_settled(count: int) -> bool:
        pages = Notification.objects.filter(incident=incident, kind="page")
        return pages.count() == count and not pages.exclude(status="sent").exists()

    wait_for(lambda: paged_levels(incident) == [1, 2], timeout=30, message="levels 1 and 2")
    wait_for(lambda: pages_settled(4), timeout=30, message="pages 1 and 2 on Slack and the webhook")
    first.kill()  # level 3 is due 6 s after declaration; nothing is running when it comes due
    assert not EscalationTimer.objects.get(incident=incident, level=3).fired_at
    worker(name="w2", beat=True, **env)
    wait_for(lambda: paged_levels(incident) == [1, 2, 3], timeout=30, message="level 3 after the restart")
    services.incident_acknowledge(incident=incident, actor=users["responder"])
    level4 = EscalationTimer.objects.get(incident=incident, level=4)
    assert level4.cancelled_at and not level4.fired_at
    EscalationTimer.objects.filter(pk=level4.pk).update(due_at=timezone.now())  # due now, and cancelled
    level4.refresh_from_db()
    wait_for(lambda: timezone.now() > level4.due_at + timedelta(seconds=1.5), timeout=20, message="level 4's time")
    assert paged_levels(incident) == [1, 2, 3]
    times = [e.at for e in incident.timeline.filter(kind="paged").order_by("id")]
    assert times == sorted(times)
    wait_for(lambda: pages_settled(6), timeout=30, message="page 3 on Slack and the webhook")
    pages = [m["text"] for m in vendors.slack.messages("critical") if m["text"].startswith("📟")]
    assert [p.split("Escalation level ")[1][:1] for p in pages] == ["1", "2", "3"]


@pytest.mark.django_db
def test_raising_an_unanswered_incident_to_p1_starts_paging(users, vendors):
    incident = services.incident_declare(severity="P3", title="Odd errors", actor=users["commander"])
    assert not EscalationTimer.objects.filter(incident=incident).exists()
    services.incident_change_severity(incident=incident, severity="P1", reason="Spreading", actor=users["commander"])
    assert EscalationTimer.objects.filter(incident=incident).count() == 4
    (trigger,) = Notification.objects.filter(incident=incident, channel="pagerduty")
    assert trigger.kind == "severity_changed"

    assert REGISTRY["pagerduty"].payload(trigger)["event_action"] == "trigger"
    assert REGISTRY["pagerduty"].payload(trigger)["payload"]["severity"] == "error"
    services.incident_change_severity(incident=incident, severity="P0", reason="Worse", actor=users["commander"])
    assert EscalationTimer.objects.filter(incident=incident).count() == 4  # not twice
    assert Notification.objects.filter(incident=incident, channel="pagerduty").count() == 1

"""The lifecycle's typed events: who hears of them, and when (in the change's transaction or on commit)."""

import pytest
from django.db import transaction

from incidents.comms import subscribers as comms_subscribers
from incidents.lifecycle import events
from incidents.lifecycle.events import CloseRequested, Declared, EscalationDue, Registry, Resolved
from incidents.lifecycle.facts import fact, keeper
from incidents.lifecycle.models import Incident
from incidents.postmortems import subscribers as postmortem_subscribers

pytestmark = pytest.mark.django_db


def test_handlers_run_in_the_transaction_or_after_commit(django_capture_on_commit_callbacks):
    registry, heard = Registry(), []
    registry.subscribe(Declared)(lambda e: heard.append(("in", e.message)))
    registry.subscribe(Declared, on_commit=True)(lambda e: heard.append(("after", e.message)))
    registry.subscribe(Resolved)(lambda e: heard.append(("resolved", e.message)))
    incident = Incident(id=1, severity="P2", title="t")
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            registry.publish(Declared(incident, "system", "one"))
            assert heard == [("in", "one")]
    assert heard == [("in", "one"), ("after", "one")]


def test_an_on_commit_handler_never_hears_of_a_change_that_rolled_back(django_capture_on_commit_callbacks):
    registry, heard = Registry(), []
    registry.subscribe(Declared, on_commit=True)(heard.append)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                registry.publish(Declared(Incident(id=1, severity="P2", title="t"), "system"))
                raise RuntimeError("the change fails")
        except RuntimeError:
            pass
    assert heard == [] and callbacks == []


def test_subscribe_takes_event_types_only():
    with pytest.raises(TypeError):
        Registry().subscribe(str)
    with pytest.raises(TypeError):
        Registry().subscribe()


def test_who_hears_of_what():
    """comms hears of every change it announces or pages for; post-mortems of resolution and closing."""
    assert events.registry.handlers(Declared) == [comms_subscribers.incident_declared]
    assert events.registry.handlers(EscalationDue) == [comms_subscribers.escalation_reached]
    assert events.registry.handlers(Resolved) == [
        comms_subscribers.incident_moved_on,
        postmortem_subscribers.incident_resolved,
    ]
    assert events.registry.handlers(CloseRequested) == [postmortem_subscribers.close_requested]


def test_a_fact_nobody_keeps_is_the_default_and_a_fact_has_one_keeper():
    incident = Incident(id=1, severity="P2", title="t")
    assert fact(incident, "no such fact", default=[]) == []
    assert fact(incident, "notification_counts") == []
    with pytest.raises(ValueError):
        keeper("communications")(lambda incident: [])

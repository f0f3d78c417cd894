"""A mitigation runs on a real Celery worker and records its outcome."""

import pytest

from incidents.lifecycle import services
from incidents.lifecycle.models import Mitigation
from pitchey_incidents.testing import wait_for
from recovery.models import RuntimeFlag


@pytest.mark.django_db(transaction=True)
def test_mitigation_runs_on_a_real_worker(worker, users):
    incident = services.incident_declare(severity="P1", title="Writes failing", actor=users["commander"])
    worker()
    mitigation = services.mitigation_start(incident=incident, action="enable_read_only", actor=users["responder"])

    def finished():
        m = Mitigation.objects.get(pk=mitigation.pk)
        return m if m.status in ("succeeded", "failed") else None

    done = wait_for(finished, timeout=30, message="the worker to run the mitigation")
    assert done.status == "succeeded", done.output
    assert done.started_at and done.finished_at and "READ_ONLY_MODE is on" in done.output
    assert RuntimeFlag.objects.get(name="READ_ONLY_MODE").enabled
    kinds = list(incident.timeline.exclude(kind="paged").values_list("kind", flat=True))  # P1 pages level 1
    assert kinds == ["declared", "mitigation_requested", "mitigation_succeeded"]

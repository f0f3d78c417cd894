"""The same new alert group posted from 20 threads at once makes exactly one incident."""

from __future__ import annotations

import threading

import pytest
import requests

from incidents.detection.models import Alert, AlertGroup
from incidents.lifecycle.models import Incident
from incidents.tests.alert_fixtures import am_alert, am_payload, make_source
from pitchey_incidents.testing import start_web


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_deliveries_of_one_group_make_one_incident(tmp_path):
    _, secret = make_source()
    web, base = start_web(tmp_path)
    try:
        barrier = threading.Barrier(20)
        answers: list = [None] * 20

        def deliver(i: int) -> None:
            # Each thread sends the group's shared alert and one of its own.
            payload = am_payload('{}:{alertname="Storm"}', [am_alert("Storm"), am_alert("Storm", instance=f"i{i}")])
            session = requests.Session()
            barrier.wait(timeout=30)
            r = session.post(
                f"{base}/api/v1/alerts/alertmanager/",
                json=payload,
                headers={"Authorization": f"Bearer {secret}"},
                timeout=60,
            )
            answers[i] = (r.status_code, r.json())

        threads = [threading.Thread(target=deliver, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=90)
        assert all(a and a[0] == 202 for a in answers), answers
        assert Incident.objects.count() == 1 and AlertGroup.objects.count() == 1
        incident = Incident.objects.get()
        assert {tuple(a[1]["incidents"]) for a in answers} == {(incident.public_id,)}
        assert Alert.objects.count() == 21
        shared = Alert.objects.get(labels__instance__isnull=True)
        assert shared.received == 20
    finally:
        web.stop()

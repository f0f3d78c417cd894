"""``/metrics``: Prometheus text for the platform itself, behind a token or a session."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from incidents.detection import services as detection
from incidents.lifecycle import services
from incidents.tests.alert_fixtures import am_alert, am_payload, make_source

pytestmark = pytest.mark.django_db


def test_metrics_need_auth_and_show_incidents_alerts_and_probes(users, client, settings, tmp_path):
    from incidents.tests.servers import FakePrometheus

    prom = FakePrometheus()
    prom.answers = {"http_requests_total": [0.02], "http_request_duration": [120], "auth_attempts": [None]}
    settings.PROMETHEUS_URL = prom.url
    try:
        detection.detection_run(probes=None)
    finally:
        prom.stop()
    _, secret = make_source()
    APIClient().post(
        "/api/v1/alerts/alertmanager/",
        am_payload("g", [am_alert("A"), am_alert("A", instance="2")]),
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    services.incident_declare(severity="P0", title="Down", actor="test")

    assert APIClient().get("/metrics").status_code == 401
    token = Token.objects.create(user=users["viewer"])
    r = APIClient().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token.key}")
    assert r.status_code == 200 and r["Content-Type"].startswith("text/plain; version=0.0.4")
    text = r.content.decode()
    assert 'pitchey_incidents_open{severity="P0"} 1' in text
    assert 'pitchey_incidents_open{severity="P1"} 1' in text  # the alert group's incident
    assert 'pitchey_alerts_received_total{kind="alertmanager",source="prom"} 2' in text
    assert 'pitchey_probe_ok{check="error-rate",service="api",status="degraded"} 0' in text
    assert 'pitchey_probe_value{check="p99-latency",metric="p99_latency_ms",service="api"} 120' in text
    assert "# TYPE pitchey_alerts_received_total counter" in text and "pitchey_up 1" in text
    assert secret not in text

    client.force_login(users["viewer"])
    assert client.get("/metrics").status_code == 200
    client.force_login(users["nobody"])
    assert client.get("/metrics").status_code == 403

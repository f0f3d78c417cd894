import hashlib
import hmac
import json

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from incidents.detection import alerting, tasks
from incidents.detection.models import Alert, AlertGroup, AlertSource
from incidents.lifecycle.models import Incident, Status, TimelineEntry
from incidents.tests.alert_fixtures import am_alert, am_payload, make_source

pytestmark = pytest.mark.django_db


def post(secret, kind, body, **headers):
    client = APIClient()
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(
        f"/api/v1/alerts/{kind}/",
        data,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
        **headers,
    )


def test_alertmanager_group_becomes_one_incident_and_repeats_only_count(db):
    _, secret = make_source()
    a, b = am_alert("HighErrorRate"), am_alert("HighErrorRate", instance="api-2")
    r = post(secret, "alertmanager", am_payload('{}:{alertname="HighErrorRate"}', [a, b], notification_reason="x"))
    assert r.status_code == 202, r.content
    assert r.json()["received"] == 2 and len(r.json()["incidents"]) == 1
    incident = Incident.objects.get()
    assert incident.source == "alertmanager" and incident.severity == "P1"
    assert [s.slug for s in incident.services.all()] == ["api"]
    assert incident.detected_at.isoformat().startswith("2026-11-27T05:00:00.123456")
    r2 = post(secret, "alertmanager", am_payload('{}:{alertname="HighErrorRate"}', [a]))
    assert r2.json()["incidents"] == r.json()["incidents"]
    assert Incident.objects.count() == 1 and Alert.objects.count() == 2
    assert Alert.objects.get(identity=a["fingerprint"]).received == 2


def test_resolved_alerts_go_on_the_timeline_and_all_resolved_moves_to_monitoring(db):
    _, secret = make_source()
    a, b = am_alert("DiskFull"), am_alert("DiskFull", instance="db-2")
    post(secret, "alertmanager", am_payload("g1", [a, b]))
    incident = Incident.objects.get()
    post(secret, "alertmanager", am_payload("g1", [{**a, "status": "resolved"}, b]))
    group = AlertGroup.objects.get()
    tasks.alert_group_sync.apply(args=[group.id], throw=True)
    notes = TimelineEntry.objects.filter(incident=incident, kind="alert_resolved")
    assert [n.message for n in notes] == ["Alert resolved: DiskFull on api"]
    incident.refresh_from_db()
    assert incident.status == Status.TRIGGERED
    post(secret, "alertmanager", am_payload("g1", [{**b, "status": "resolved"}]))
    tasks.alert_group_sync.apply(args=[group.id], throw=True)
    tasks.alert_group_sync.apply(args=[group.id], throw=True)  # idempotent: no second note
    incident.refresh_from_db()
    assert incident.status == Status.MONITORING
    assert TimelineEntry.objects.filter(incident=incident, kind="alert_resolved").count() == 2


def test_a_resolved_incident_lets_the_group_open_a_new_one(db, users):
    from incidents.lifecycle import services

    _, secret = make_source()
    post(secret, "alertmanager", am_payload("g", [am_alert("X")]))
    first = Incident.objects.get()
    services.incident_resolve(incident=first, resolution="fixed", actor=users["commander"])
    r = post(secret, "alertmanager", am_payload("g", [am_alert("X")]))
    assert r.json()["incidents"] != [first.public_id] and Incident.objects.count() == 2


def test_auto_resolve_after_quiet_period(db, clock):
    from datetime import timedelta

    _, secret = make_source(auto_resolve_after_s=300)
    a = am_alert("X")
    post(secret, "alertmanager", am_payload("g", [a]))
    post(secret, "alertmanager", am_payload("g", [{**a, "status": "resolved"}]))
    assert alerting.alerts_auto_resolve() == []  # not quiet long enough yet
    later = clock.now + timedelta(seconds=301)
    incident = Incident.objects.get()
    assert alerting.alerts_auto_resolve(now=later) == [incident.public_id]
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED and "quiet for 5 min" in incident.resolution


def test_generic_and_label_grouping_and_severity_mapping(db):
    _, secret = make_source("ops", "generic", group_by=["service"])
    body = [
        {
            "dedup_key": "k1",
            "status": "firing",
            "severity": "warning",
            "summary": "Slow queries",
            "service": "database",
        },
        {
            "dedup_key": "k2",
            "status": "firing",
            "severity": "P0",
            "summary": "Replica lag",
            "service": "database",
            "details": {"lag_s": 30},
            "unknown_field": 1,
        },
    ]
    r = post(secret, "generic", body)
    assert r.status_code == 202 and r.json() == {"received": 2, "incidents": [Incident.objects.get().public_id]}
    incident = Incident.objects.get()
    assert incident.severity == "P0" and incident.source == "generic"
    assert Alert.objects.get(identity="k1").severity == "P2"


def test_grafana_signature_is_checked_when_configured(db, monkeypatch):
    source, secret = make_source("graf", "grafana")
    source.signing_secret_env, source.timestamp_header = "GRAFANA_TEST_HMAC", "X-Grafana-Alerting-Timestamp"
    source.save()
    monkeypatch.setenv("GRAFANA_TEST_HMAC", "s3cret")
    payload = am_payload("grafana-g", [am_alert("CPU")], version="1", orgId=1, state="alerting", title="[FIRING:1]")
    body = json.dumps(payload).encode()
    sig = hmac.new(b"s3cret", b"1700000000:" + body, hashlib.sha256).hexdigest()
    bad = post(
        secret,
        "grafana",
        body,
        HTTP_X_GRAFANA_ALERTING_SIGNATURE="0" * 64,
        HTTP_X_GRAFANA_ALERTING_TIMESTAMP="1700000000",
    )
    assert bad.status_code == 401 and Incident.objects.count() == 0
    ok = post(
        secret, "grafana", body, HTTP_X_GRAFANA_ALERTING_SIGNATURE=sig, HTTP_X_GRAFANA_ALERTING_TIMESTAMP="1700000000"
    )
    assert ok.status_code == 202 and Incident.objects.get().source == "grafana"


@pytest.mark.parametrize(
    "body, field",
    [
        ("{not json", "body"),
        ("[" * 100_000 + "]" * 100_000, "body"),
        ({"alerts": "nope"}, "alerts"),
        ({"alerts": [{"status": "burning", "labels": {}, "fingerprint": "f"}]}, "alerts[0].status"),
        ({"alerts": [am_alert("X"), {**am_alert("Y"), "startsAt": "yesterday"}]}, "alerts[1].startsAt"),
        ({"alerts": [{**am_alert("X"), "labels": {"a": {"b": 1}}}]}, "alerts[0].labels"),
    ],
)
def test_malformed_alertmanager_bodies_are_400_naming_the_field_and_store_nothing(db, body, field):
    _, secret = make_source()
    r = post(secret, "alertmanager", body)
    assert r.status_code == 400 and field in r.json(), r.content
    assert Incident.objects.count() == 0 and Alert.objects.count() == 0 and AlertGroup.objects.count() == 0


def test_generic_missing_field_is_400(db):
    _, secret = make_source("g", "generic")
    r = post(secret, "generic", {"status": "firing", "summary": "x"})
    assert r.status_code == 400 and "dedup_key" in r.json()


def test_secrets_sizes_and_kinds_are_enforced(db, settings):
    source, secret = make_source()
    assert AlertSource.objects.get().secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in json.dumps(list(AlertSource.objects.values()), default=str)
    assert post("wrong", "alertmanager", am_payload("g", [am_alert("X")])).status_code == 401
    assert APIClient().post("/api/v1/alerts/alertmanager/", {}, format="json").status_code == 401
    assert post(secret, "grafana", am_payload("g", [am_alert("X")])).status_code == 401  # other kind's secret
    assert post(secret, "nagios", {}).status_code == 404
    settings.ALERT_MAX_BODY_BYTES = 2048
    big = am_payload("g", [am_alert("X", note="y" * 4000)])
    assert post(secret, "alertmanager", big).status_code == 413
    assert Incident.objects.count() == 0
    assert APIClient().post("/api/v1/alerts/alertmanager/ping/", HTTP_AUTHORIZATION=f"Bearer {secret}").json() == {
        "source": "prom",
        "kind": "alertmanager",
    }


def test_alertsource_command(db, capsys):
    call_command("alertsource", "create", "am1", "--kind", "alertmanager", "--group-by", "alertname,service")
    secret = capsys.readouterr().out.strip()
    assert secret.startswith("pias_") and alerting.alertsource_authenticate(
        kind="alertmanager", authorization=f"Bearer {secret}"
    )
    call_command("alertsource", "list")
    assert "am1" in capsys.readouterr().out
    call_command("alertsource", "rotate", "am1")
    new = capsys.readouterr().out.strip()
    assert new != secret
    assert alerting.alertsource_authenticate(kind="alertmanager", authorization=f"Bearer {secret}") is None
    call_command("alertsource", "delete", "am1")
    assert not AlertSource.objects.exists()
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="kind"):
        call_command("alertsource", "create", "x", "--kind", "nagios")


def test_a_worse_alert_joining_raises_the_severity(db):
    _, secret = make_source()
    post(secret, "alertmanager", am_payload("g", [am_alert("Lag", severity="warning")]))
    incident = Incident.objects.get()
    assert incident.severity == "P2"
    post(secret, "alertmanager", am_payload("g", [am_alert("Lag", severity="critical", instance="db-2")]))
    tasks.alert_group_sync.apply(args=[AlertGroup.objects.get().id], throw=True)
    incident.refresh_from_db()
    assert incident.severity == "P1" and incident.timeline.filter(kind="severity_changed").count() == 1


def test_resolutions_for_an_unknown_group_open_nothing(db):
    _, secret = make_source()
    r = post(secret, "alertmanager", am_payload("gone", [am_alert("Old", status="resolved")]))
    assert r.status_code == 202 and r.json() == {"received": 1, "incidents": []}
    assert not Incident.objects.exists() and not AlertGroup.objects.exists()

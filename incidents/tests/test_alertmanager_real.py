"""A real Prometheus Alertmanager delivers to our real web server: alerts group, dedup and resolve."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest
import requests

from incidents.detection.models import Alert
from incidents.lifecycle.models import Incident, Status, TimelineEntry
from incidents.tests.alert_fixtures import make_source
from pitchey_incidents.testing import Proc, free_port, start_web, wait_for

ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")

CONFIG = """
route:
  receiver: pitchey
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: pitchey
    webhook_configs:
      - url: {url}
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {secret}
"""


@pytest.fixture
def alertmanager(tmp_path):
    assert ALERTMANAGER, "prometheus-alertmanager is not installed (.ci/run installs it)"
    started = []

    def start(webhook_url: str, secret: str) -> str:
        (tmp_path / "am.yml").write_text(CONFIG.format(url=webhook_url, secret=secret))
        port = free_port()
        argv = [
            ALERTMANAGER,
            f"--config.file={tmp_path / 'am.yml'}",
            f"--storage.path={tmp_path / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=debug",
        ]
        proc = Proc(argv, env={"PATH": "/usr/bin:/bin"}, log_path=tmp_path / "alertmanager.log")
        started.append(proc)
        base = f"http://127.0.0.1:{port}"

        def ready():
            try:
                return requests.get(f"{base}/-/ready", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_for(ready, timeout=60, message="Alertmanager to be ready")
        return base

    yield start
    for proc in started:
        proc.stop()


def fire(base: str, *alerts: dict) -> None:
    r = requests.post(f"{base}/api/v2/alerts", json=list(alerts), timeout=5)
    assert r.status_code == 200, r.text


def alertmanager_now(base: str) -> datetime:
    """Alertmanager's own clock (its Date header, whole seconds, so never ahead of it). An alert carries the
    sender's times and Alertmanager checks them against its clock ("start time must be before end time"), so
    the test stamps alerts by that clock, not ours: the two need not agree (an Alertmanager on another host)."""
    r = requests.get(f"{base}/api/v2/status", timeout=5)
    return parsedate_to_datetime(r.headers["Date"])


def alert(name: str, instance: str, *, now: datetime, resolved: bool = False) -> dict:
    body = {
        "labels": {"alertname": name, "instance": instance, "severity": "critical", "service": "api"},
        "annotations": {"summary": f"{name} on {instance}"},
        "generatorURL": "http://prometheus.example/graph",
        "startsAt": (now - timedelta(minutes=2)).isoformat(),
    }
    if resolved:
        body["endsAt"] = (now - timedelta(seconds=1)).isoformat()
    return body


@pytest.mark.django_db(transaction=True)
def test_real_alertmanager_alerts_group_dedup_and_resolve(tmp_path, alertmanager, worker):
    _, secret = make_source("alertmanager-test")
    web, web_base = start_web(tmp_path)
    try:
        worker(queues="critical")
        am = alertmanager(f"{web_base}/api/v1/alerts/alertmanager/", secret)
        now = alertmanager_now(am)
        fire(am, alert("HighErrorRate", "api-1", now=now), alert("HighErrorRate", "api-2", now=now))
        wait_for(lambda: Alert.objects.count() == 2, timeout=60, message="both alerts to arrive")
        incident = Incident.objects.get()
        assert (incident.source, incident.severity, incident.status) == ("alertmanager", "P1", "triggered")
        assert [s.slug for s in incident.services.all()] == ["api"]
        # Both alerts usually come in one notification; Alertmanager may also flush them separately.
        assert incident.title in ("HighErrorRate (2 alerts)", "HighErrorRate")

        fire(am, alert("DiskFull", "db-1", now=alertmanager_now(am)))  # another group → another incident
        wait_for(lambda: Incident.objects.count() == 2, timeout=60, message="the second group's incident")

        fire(am, alert("HighErrorRate", "api-1", now=alertmanager_now(am), resolved=True))
        wait_for(
            lambda: TimelineEntry.objects.filter(incident=incident, kind="alert_resolved").count() == 1,
            timeout=60,
            message="the resolved alert on the timeline",
        )
        # Alertmanager re-sent the group with api-2 still firing: counted, not a new incident.
        assert Alert.objects.get(labels__instance="api-2").received >= 2
        assert Incident.objects.count() == 2

        fire(am, alert("HighErrorRate", "api-2", now=alertmanager_now(am), resolved=True))
        wait_for(
            lambda: Incident.objects.get(pk=incident.pk).status == Status.MONITORING,
            timeout=60,
            message="the incident to move to monitoring once every alert resolved",
        )
        notes = TimelineEntry.objects.filter(incident=incident, kind="alert_resolved").order_by("id")
        assert [n.message for n in notes] == [
            "Alert resolved: HighErrorRate on api-1",
            "Alert resolved: HighErrorRate on api-2",
        ]
        assert notes[0].actor == "alertmanager:alertmanager-test"
    except AssertionError as exc:
        logs = {p.name: p.read_text(errors="replace")[-2000:] for p in tmp_path.glob("*.log")}
        raise AssertionError(f"{exc}\n" + "\n".join(f"--- {k}\n{v}" for k, v in logs.items())) from None
    finally:
        web.stop()

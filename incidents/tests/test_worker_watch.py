"""Which queues have a worker: /readyz and the dashboard say "no worker has been seen for N s" per queue,
and the critical queue without a worker for more than a minute opens one incident, whose pages go out
without waiting for the missing worker."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from incidents.comms.models import Notification
from incidents.detection.workers import workers_check
from incidents.lifecycle import services
from incidents.lifecycle.models import Incident
from pitchey_incidents import jobs, workers
from pitchey_incidents.models import QueueAlarm, WorkerHeartbeat
from pitchey_incidents.queues import QUEUES
from pitchey_incidents.testing import start_redis, wait_for
from pitchey_incidents.workers import heartbeat_write

pytestmark = pytest.mark.django_db


def beat(clock, queues=QUEUES, host="w1@box"):
    heartbeat_write(hostname=host, queues=list(queues), pid=1, started_at=clock.now)


def test_readyz_reports_each_queue_and_fails_while_critical_has_had_no_worker_for_a_minute(client, clock):
    never = client.get("/readyz")
    assert never.status_code == 503
    workers = never.json()["checks"]["workers"]
    assert set(workers) == set(QUEUES)
    assert workers["critical"] == {
        "seen_s_ago": None,
        "workers": 0,
        "ok": False,
        "message": "no worker has ever been seen",
    }

    beat(clock)
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.content
    assert ready.json()["checks"]["workers"]["critical"]["seen_s_ago"] == 0
    assert ready.json()["checks"]["database"] == "ok" and ready.json()["checks"]["broker"] == "ok"

    clock.advance(seconds=45)  # stale (over WORKER_STALE_S) but not yet missing: reported, still ready
    beat(clock, queues=["default", "long"])
    body = client.get("/readyz")
    assert body.status_code == 200
    assert body.json()["checks"]["workers"]["critical"]["message"] == "no worker has been seen for 45 s"
    assert body.json()["checks"]["workers"]["default"]["ok"] is True

    clock.advance(seconds=30)  # 75 s without a worker on critical
    beat(clock, queues=["default", "long"])
    gone = client.get("/readyz")
    assert gone.status_code == 503
    assert gone.json()["checks"]["workers"]["critical"]["message"] == "no worker has been seen for 1 min 15 s"


def test_the_dashboard_names_each_queue_without_a_worker(page, clock):
    beat(clock)
    clock.advance(minutes=2)
    beat(clock, queues=["critical"], host="w2@box")
    html = page("viewer").get("/").content.decode()
    assert 'data-queue-without-worker="critical"' not in html
    for queue in ("default", "long"):
        assert f'data-queue-without-worker="{queue}"' in html
    assert "The default queue: no worker has been seen for 2 min." in html


def test_critical_without_a_worker_for_a_minute_opens_one_incident_whose_pages_go_out_anyway(
    clock, vendors, django_capture_on_commit_callbacks
):
    beat(clock)
    clock.advance(seconds=50)
    assert workers_check() is None and not Incident.objects.exists()  # stale, not yet missing

    clock.advance(seconds=20)
    with django_capture_on_commit_callbacks(execute=True):
        opened = workers_check()
    incident = Incident.objects.get()
    assert opened == incident.public_id and incident.severity == "P1"
    assert incident.title == "No worker consumes the critical queue"
    assert "No worker has been seen on the critical queue for 1 min 10 s" in incident.description
    # No worker consumes critical, so its pages were sent from the check itself.
    assert vendors.pagerduty.opened == {f"pitchey-incidents/{incident.public_id}": 1}
    assert Notification.objects.filter(incident=incident, channel="pagerduty").get().status == "sent"

    for _ in range(3):  # checked again and again: still one incident
        clock.advance(seconds=20)
        assert workers_check() is None
    assert Incident.objects.count() == 1

    beat(clock)  # a worker is back: noted once
    assert workers_check() is None and workers_check() is None
    notes = list(incident.timeline.filter(message__contains="queue again").values_list("message", flat=True))
    assert notes == ["A worker consumes the critical queue again"]

    clock.advance(minutes=2)  # gone again while the incident is still open: noted on it, not a new one
    assert workers_check() is None and workers_check() is None
    assert Incident.objects.count() == 1
    assert incident.timeline.filter(message__endswith=", again").count() == 1

    services.incident_resolve(incident=incident, resolution="worker restarted", actor="system")
    assert QueueAlarm.objects.get(queue="critical").incident == incident.public_id
    clock.advance(seconds=20)  # resolved while still missing: the next check opens a new one
    assert workers_check() not in (None, incident.public_id)
    assert Incident.objects.count() == 2


def test_heartbeats_are_one_row_per_worker_and_queue(clock):
    beat(clock)
    clock.advance(seconds=10)
    beat(clock)
    beat(clock, host="w2@box", queues=["long"])
    rows = {(h.hostname, h.queue): h.seen_at for h in WorkerHeartbeat.objects.all()}
    assert rows == {("w1@box", q): clock.now for q in QUEUES} | {("w2@box", "long"): clock.now}


@pytest.mark.django_db(transaction=True)  # a beat closes its database connection, as a worker's does
def test_a_worker_whose_broker_does_not_answer_writes_no_heartbeat_until_it_does(tmp_path, clock, caplog):
    """The consumer may not have noticed its connection died; the beat asks the broker itself."""
    server, url = start_redis(tmp_path)
    beater = workers._Beater("w1@box", url)
    beater.queues = ["critical", "default"]
    try:
        beater.beat()
        assert set(WorkerHeartbeat.objects.values_list("queue", "seen_at")) == {
            ("critical", clock.now),
            ("default", clock.now),
        }
        first = clock.now
        server.kill()
        clock.advance(seconds=10)
        with caplog.at_level(logging.WARNING, logger="pitchey_incidents.workers"):
            beater.beat()
            beater.beat()
        assert set(WorkerHeartbeat.objects.values_list("seen_at", flat=True)) == {first}
        held = [r.getMessage() for r in caplog.records if "heartbeat held" in r.getMessage()]
        assert len(held) == 1 and "the broker does not answer" in held[0]  # once per outage

        (tmp_path / "again").mkdir()
        server, _ = start_redis(tmp_path / "again", port=int(url.rsplit(":", 1)[1].split("/")[0]))
        clock.advance(seconds=10)
        beater.beat()
        assert set(WorkerHeartbeat.objects.values_list("seen_at", flat=True)) == {clock.now}
    finally:
        server.stop()


@pytest.mark.django_db(transaction=True)
def test_the_filesystem_broker_is_not_asked(clock, monkeypatch):
    monkeypatch.setattr(jobs, "ping", lambda *a, **k: pytest.fail("pinged a folder"))
    beater = workers._Beater("w1@box", "filesystem://localhost//")
    beater.queues = ["critical"]
    beater.beat()
    assert WorkerHeartbeat.objects.get().seen_at == clock.now


def test_a_worker_on_the_embedded_broker_heartbeats_every_queue(worker, tmp_path):
    """``make run``'s worker: the folder broker answers the beat's question without a network."""
    worker(name="fs", queues="critical,default", CELERY_BROKER_URL="filesystem://", BROKER_DIR=str(tmp_path / "b"))
    wait_for(
        lambda: {q for _, q in WorkerHeartbeat.objects.values_list("hostname", "queue")} == {"critical", "default"},
        timeout=30,
        message="a heartbeat on each queue",
    )


@pytest.mark.django_db(transaction=True)
def test_the_beat_asks_the_configured_broker_not_the_connections_spelling_of_it(settings):
    """kombu spells the embedded broker's connection "pitchey_incidents.broker_fs:Transport://localhost//",
    which the broker check would take for a TCP broker on localhost:5672; the step hands the beat the
    configured URL."""
    step = workers.HeartbeatStep(SimpleNamespace())
    consumer = SimpleNamespace(
        hostname="w1@box",
        task_consumer=SimpleNamespace(queues=[SimpleNamespace(name="critical")]),
        app=SimpleNamespace(conf=SimpleNamespace(broker_url="filesystem://")),
        connection=SimpleNamespace(as_uri=lambda **_: "pitchey_incidents.broker_fs:Transport://localhost//"),
    )
    step.start(consumer)
    try:
        assert step.beater.broker_url == "filesystem://" and step.beater.broker_answers()
    finally:
        step.shutdown(consumer)

"""Workers outlive the broker: Redis killed and started again on the same port (a throwaway server on a
free port, never the shared one), with real workers and real deliveries."""

from __future__ import annotations

import json
import os
import time
import urllib.request

import pytest
import redis
from kombu import Connection, Queue
from kombu.transport import redis as kombu_redis
from rest_framework.authtoken.models import Token

from incidents.comms.models import Notification
from incidents.lifecycle import selectors
from incidents.lifecycle.models import Incident
from pitchey_incidents import redis_broker
from pitchey_incidents.models import WorkerHeartbeat
from pitchey_incidents.testing import free_port, start_redis, start_web, wait_for


def _channels_holding_unacked(url: str, count: int) -> tuple[Connection, list]:
    """A connection with ``count`` channels, each holding one delivered, unacknowledged message: what
    a worker holds for a running acks_late task or a countdown it waits on."""
    conn = Connection(url)
    channels = []
    for n in range(count):
        queue = Queue(f"q{n}")
        with conn.Producer() as producer:
            producer.publish({"n": n}, routing_key=queue.name, declare=[queue])
        channel = conn.channel()
        conn.Consumer(queue, channel=channel, callbacks=[lambda body, message: None], accept=["json"]).consume()
        channels.append(channel)
    wait_for(
        lambda: conn.drain_events(timeout=0.2) or all(ch.qos._delivered for ch in channels),
        timeout=10,
        interval=0,  # draining waits for the next message itself
        message="every channel to hold its message",
    )
    return conn, channels


def _close_after_the_broker_died(tmp_path, port: int) -> list[BaseException]:
    tmp_path.mkdir()
    redis_proc, url = start_redis(tmp_path, port=port)
    conn, channels = _channels_holding_unacked(url, 3)
    redis_proc.kill()
    conn.collect(socket_timeout=1)  # what the worker's consumer does on a connection loss
    raised = []
    for channel in channels:
        try:
            channel.close()
        except Exception as exc:
            raised.append(exc)
        channel.qos.restore_at_shutdown = False  # nothing left to try at this process's exit
    return raised


TRIES = 10  # which channel is mid-poll when the broker dies varies: each try is a fresh server


def _hostname_errors(tmp_path, name: str) -> list[BaseException]:
    raised = []
    for n in range(TRIES):
        raised += _close_after_the_broker_died(tmp_path / f"{name}{n}", free_port())
    return [e for e in raised if not isinstance(e, redis.ConnectionError)]


def test_closing_channels_after_the_broker_went_away_does_not_kill_the_worker(tmp_path, monkeypatch):
    """Reproduced with kombu's own restore: a channel closed after the connection was collected raises
    AttributeError("'NoneType' object has no attribute 'hostname'"), which Celery does not expect and
    which made the worker exit. Patched, all that is left is the broker's connection error (from a
    channel that was waiting on the broker), which Celery expects and ignores."""
    monkeypatch.setattr(kombu_redis.QoS, "restore_unacked", redis_broker.UNPATCHED_RESTORE_UNACKED)
    unexpected = _hostname_errors(tmp_path, "kombu")
    assert unexpected and all(isinstance(e, AttributeError) and "hostname" in str(e) for e in unexpected)
    monkeypatch.undo()

    assert kombu_redis.QoS.restore_unacked is redis_broker.restore_unacked_or_leave
    assert _hostname_errors(tmp_path, "patched") == []


# --- the whole thing: real Redis killed and back, real workers, real pages ---------------------------

# How long Redis stays down: by default until every worker has failed to reconnect twice (Celery tries
# again after 2, 4, 6… s, so Redis is back before the third attempt); BROKER_OUTAGE_S=60 for the full
# drill (see docs/architecture.md).
OUTAGE_S = float(os.environ.get("BROKER_OUTAGE_S") or 0)
FAILED_RECONNECTS = 2
FAST = {
    "NOTIFICATION_SWEEP_S": "0.5",
    "NOTIFICATION_SWEEP_GRACE_S": "1",
    "ESCALATION_TICK_S": "0.5",
    "WORKER_HEARTBEAT_S": "0.5",
}


def _declare(base: str, token: str, title: str) -> str:
    request = urllib.request.Request(
        f"{base}/api/v1/incidents/",
        data=json.dumps({"severity": "P1", "title": title}).encode(),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 201
        return json.loads(response.read())["id"]


def _pages(public_id: str) -> set[str]:
    return {n.status for n in Notification.objects.filter(incident=selectors.incident_get(public_id))}


def _heartbeats() -> dict[tuple[str, str], object]:
    return {(h.hostname, h.queue): h.seen_at for h in WorkerHeartbeat.objects.all()}


def _reconnects_failed(workers: list) -> dict:
    return {proc: proc.log().count("consumer: Cannot connect to") for proc in workers}


def _outage(began: float, failed_before: dict) -> float:
    """Redis stays down for ``OUTAGE_S``, or until each worker has failed to reconnect twice since it
    went; no worker may exit meanwhile. Returns how long the outage lasted."""

    def over() -> bool:
        for proc in failed_before:
            assert proc.popen.poll() is None, f"a worker exited during the outage:\n{proc.log()[-3000:]}"
        if OUTAGE_S:
            return time.monotonic() - began >= OUTAGE_S
        failed = _reconnects_failed(list(failed_before))
        return all(failed[proc] >= failed_before[proc] + FAILED_RECONNECTS for proc in failed_before)

    try:
        wait_for(over, timeout=OUTAGE_S + 60, interval=0.2, message="the outage to run its course")
    except AssertionError as exc:  # say which worker never noticed, with what it last logged
        failed = _reconnects_failed(list(failed_before))
        tails = "\n".join(
            f"--- {proc.log_path.name}: {failed[proc] - failed_before[proc]} failed reconnects since the kill\n"
            + proc.log()[-2000:]
            for proc in failed_before
        )
        raise AssertionError(f"{exc}\n{tails}") from None
    return time.monotonic() - began


def _every_page_delivered_once(vendors, settings, outage_s: float, *declared: str) -> None:
    for public_id in declared:
        sent = lambda id=public_id: _pages(id) == {"sent"}  # noqa: E731
        wait_for(sent, timeout=90, message=f"every page of {public_id} delivered")
    # An outage longer than WORKER_MISSING_S may also open the "no worker consumes the critical queue"
    # incident (true: nothing could consume it); at most one, and it pages like the others.
    watch = [i.public_id for i in Incident.objects.filter(title="No worker consumes the critical queue")]
    assert len(watch) <= (1 if outage_s + 30 > settings.WORKER_MISSING_S else 0)  # 30 s: a late reconnect
    for public_id in watch:
        wait_for(lambda id=public_id: _pages(id) == {"sent"}, timeout=60, message="the watch's pages")
    assert vendors.pagerduty.opened == {f"pitchey-incidents/{i}": 1 for i in (*declared, *watch)}


@pytest.mark.django_db(transaction=True)
def test_workers_outlive_a_redis_outage_and_every_queued_page_is_delivered(tmp_path, worker, vendors, users, settings):
    for name in ("STATUSPAGE_API_KEY", "OUTGOING_WEBHOOK_URL", "SLACK_WEBHOOK_WARNING"):
        setattr(settings, name, "")
        vendors.env[name] = ""
    redis_proc, url = start_redis(tmp_path)
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    settings.CELERY_BROKER_URL = url  # what the workers and the web server are started with
    critical = worker(name="crit", queues="critical", beat=True, wait=False, **vendors.env, **FAST)
    rest = worker(name="rest", queues="default,long", wait=False, **vendors.env, **FAST)
    web, base = start_web(tmp_path, **vendors.env)  # while the workers start
    critical.wait_ready(), rest.wait_ready()
    token = Token.objects.create(user=users["commander"]).key
    try:
        wait_for(lambda: len(_heartbeats()) == 3, timeout=30, message="a heartbeat on every queue")
        before = _heartbeats()
        # A page on the wire when Redis dies: the worker holds its message unacknowledged (acks_late).
        vendors.pagerduty.hold_next()
        first = _declare(base, token, "Before the outage")
        assert vendors.pagerduty.held.wait(30), "the worker never sent the first page"
        failed = _reconnects_failed([critical, rest])
        redis_proc.kill()
        began = time.monotonic()
        vendors.pagerduty.release.set()
        second = _declare(base, token, "During the outage")  # queued: the broker is down
        outage = _outage(began, failed)
        redis_proc, _ = start_redis(tmp_path, port=port)
        _every_page_delivered_once(vendors, settings, outage, first, second)
        for proc in (critical, rest):
            assert proc.popen.poll() is None and "Unrecoverable" not in proc.log(), proc.log()[-3000:]
        wait_for(
            lambda: all(_heartbeats()[key] > seen for key, seen in before.items()),
            timeout=30,
            message="every worker's heartbeat after the outage",
        )
    finally:
        web.stop()
        redis_proc.stop()

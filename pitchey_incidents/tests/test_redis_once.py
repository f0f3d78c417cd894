"""Our Redis clients try each command once: redis-py's default retries a failed connection ten
times, backing off in between, in the request, probe or check that asked. Counted against a real
TCP server that closes every connection it accepts, and a real redis-server."""

from __future__ import annotations

import pytest
import redis

from pitchey_incidents import events
from pitchey_incidents import redis as our_redis
from pitchey_incidents.testing import ClosingServer, start_redis


@pytest.fixture
def slammer():
    server = ClosingServer()
    yield server
    server.close()


@pytest.fixture
def app_redis(settings):
    """``REDIS_URL`` as the test sets it, the app's client built anew, wake-ups not muted."""
    our_redis.client.cache_clear()
    events._muted_until = 0.0
    yield settings
    our_redis.client.cache_clear()
    events._muted_until = 0.0


def test_a_command_is_tried_once(slammer):
    with pytest.raises(redis.ConnectionError):
        our_redis.connect(slammer.url, 2).ping()
    with pytest.raises(ConnectionError):
        our_redis.ping(slammer.url, 2)
    assert slammer.accepted == 2  # redis-py's default would have connected eleven times for each


def test_wake_ups_during_an_outage_cost_one_try_then_resume(app_redis, slammer, monkeypatch, tmp_path):
    app_redis.REDIS_URL = slammer.url
    now = [1000.0]
    monkeypatch.setattr(events, "_clock", lambda: now[0])
    for event_id in range(50):  # an alert storm while Redis is down
        events._wake(event_id)
    assert slammer.accepted == 1  # one try, then muted
    now[0] += events.WAKE_MUTE_S + 0.1
    events._wake(50)
    assert slammer.accepted == 2  # tried again once the mute ran out

    proc, url = start_redis(tmp_path)  # Redis is back
    try:
        app_redis.REDIS_URL = url
        our_redis.client.cache_clear()
        listener = redis.Redis.from_url(url).pubsub()
        listener.subscribe(events.WAKE_CHANNEL)
        assert listener.get_message(timeout=5)["type"] == "subscribe"
        events._wake(51)  # still muted: nothing published
        now[0] += events.WAKE_MUTE_S + 0.1
        events._wake(52)
        assert listener.get_message(timeout=5)["data"] == b"52"  # the first wake-up after the mute
        listener.close()
    finally:
        proc.stop()

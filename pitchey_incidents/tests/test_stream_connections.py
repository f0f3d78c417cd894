"""Live streams and database connections, under the real ASGI server on the test's own database:
streams opened together share the bounded pool and hold no connection once open; set-ups beyond the
cap are told to come back (503 with Retry-After); a set-up the database cannot serve is a 503, never a 500."""

from __future__ import annotations

import http.client
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from pitchey_incidents.testing import free_port, start_web, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]
STREAMS = 40
POOL_MAX = 4


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def _app_name() -> str:
    return f"stream-test-{os.getpid()}-{time.monotonic_ns()}"


def _connections(app_name: str, *, waiting_on_lock: bool = False) -> int:
    """Connections of the web server under test to this test's own database, from pg_stat_activity."""
    query = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = %s"
    if waiting_on_lock:
        query += " AND wait_event_type = 'Lock'"
    with psycopg.connect(_admin_url(), autocommit=True) as conn:
        return conn.execute(query, (connection.settings_dict["NAME"], app_name)).fetchone()[0]


def _admin_url() -> str:
    conf = connection.settings_dict
    return f"postgresql://{conf['USER'] or 'postgres'}@{conf['HOST'] or '127.0.0.1'}:{conf['PORT'] or 5432}/postgres"


def _open(port: int, cookie: str) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", "/events/stream/", headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}"})
    return conn, conn.getresponse()


class PeakSampler(threading.Thread):
    """Counts the server's connections every few milliseconds while streams are being opened."""

    def __init__(self, app_name: str):
        super().__init__(daemon=True)
        self.app_name, self.peak, self.halt = app_name, 0, threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            self.peak = max(self.peak, _connections(self.app_name))
            time.sleep(0.005)


def test_streams_opened_together_do_not_each_hold_a_connection(users, tmp_path):
    cookie = session_cookie(users["viewer"])
    app_name = _app_name()
    env = {"PGAPPNAME": app_name, "DB_POOL_MAX": str(POOL_MAX), "DB_POOL_MIN": "1", "DB_POOL_TIMEOUT_S": "30"}
    env["STREAM_SETUP_WAIT_S"] = "120"  # set-ups queue behind the cap; how long they may wait is not the subject
    proc, base = start_web(tmp_path, **env)
    port = int(base.rsplit(":", 1)[1])
    sampler = PeakSampler(app_name)
    opened = []
    try:
        sampler.start()
        with ThreadPoolExecutor(max_workers=STREAMS) as pool:
            opened = list(pool.map(lambda _: _open(port, cookie), range(STREAMS)))
        assert [r.status for _, r in opened] == [200] * STREAMS
        assert {r.readline() for _, r in opened} == {b"retry: 2000\n"}  # every body has started
        sampler.halt.set()
        sampler.join()
        # The pool is the server's only way to the database: never more than its size, with forty
        # streams being set up at once and then open.
        assert 1 <= sampler.peak <= POOL_MAX, sampler.peak
        assert _connections(app_name) <= POOL_MAX
    finally:
        sampler.halt.set()
        for conn, _ in opened:
            conn.close()
        proc.stop()


def test_set_ups_beyond_the_cap_are_told_to_come_back(users, tmp_path):
    cookie = session_cookie(users["viewer"])
    app_name = _app_name()
    env = {"PGAPPNAME": app_name, "STREAM_SETUP_MAX": "1", "STREAM_SETUP_QUEUE": "0", "STREAM_RETRY_AFTER_S": "7"}
    proc, base = start_web(tmp_path, **env)
    port = int(base.rsplit(":", 1)[1])
    first = []
    try:
        with psycopg.connect(_test_db_url()) as locker:
            # The first set-up blocks on its session read while this transaction locks the table.
            locker.execute("LOCK TABLE django_session IN ACCESS EXCLUSIVE MODE")
            opener = threading.Thread(target=lambda: first.append(_open(port, cookie)), daemon=True)
            opener.start()
            wait_for(lambda: _connections(app_name, waiting_on_lock=True), message="the first set-up to wait")
            conn, second = _open(port, cookie)
            assert second.status == 503
            assert second.getheader("Retry-After") == "7"
            assert b"too many live streams" in second.read()
            conn.close()
        opener.join(timeout=30)
        assert first and first[0][1].status == 200  # once the lock is gone, the first one is served
    finally:
        for conn, _ in first:
            conn.close()
        proc.stop()


def test_a_set_up_the_database_cannot_serve_is_503_not_500(users, tmp_path):
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    # The server runs with DEBUG=1, whose error page shows the failing frames' query sets, each of them
    # waiting for the pool again: a short pool timeout answers in about a second instead of ten.
    proc, base = start_web(tmp_path, DATABASE_URL=nowhere, DB_POOL_TIMEOUT_S="0.1", STREAM_RETRY_AFTER_S="5")
    port = int(base.rsplit(":", 1)[1])
    try:
        conn, response = _open(port, "no-such-session")
        assert response.status == 503
        assert response.getheader("Retry-After") == "5"
        assert b"could not be set up" in response.read()
        conn.close()
    finally:
        proc.stop()


def _test_db_url() -> str:
    return _admin_url().rsplit("/", 1)[0] + "/" + connection.settings_dict["NAME"]

"""Open event streams hold no thread of the web server while idle (uvicorn, the real ASGI stack)."""

from __future__ import annotations

import http.client
import os
import time

import pytest
from django.conf import settings
from django.test import Client

from pitchey_incidents.testing import start_web, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
STREAMS = 8


def _threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def _open_stream(port: int, cookie: str) -> http.client.HTTPConnection:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/events/stream/", headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}"})
    response = conn.getresponse()
    assert response.status == 200 and response.readline() == b"retry: 2000\n"  # the body has started
    return conn


def _settled(pid: int, settle_s: float = 0.5) -> int:
    """The server's thread count once it has stayed the same for ``settle_s``."""
    seen = [(_threads(pid), time.monotonic())]

    def steady() -> bool:
        now = _threads(pid)
        if now != seen[-1][0]:
            seen.append((now, time.monotonic()))
        return time.monotonic() - seen[-1][1] >= settle_s

    wait_for(steady, timeout=20, message="a steady thread count")
    return seen[-1][0]


def test_idle_streams_hold_no_request_thread(users, tmp_path):
    client = Client()
    client.force_login(users["viewer"])
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    proc, base = start_web(tmp_path)
    port = int(base.rsplit(":", 1)[1])
    opened = []
    try:
        opened.append(_open_stream(port, cookie))  # the first stream also starts the hub and its threads
        one = _settled(proc.popen.pid)
        opened += [_open_stream(port, cookie) for _ in range(STREAMS - 1)]
        many = _settled(proc.popen.pid)
        assert many - one < STREAMS // 2, (one, many)
    finally:
        for conn in opened:
            conn.close()
        proc.stop()

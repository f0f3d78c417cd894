"""A tiny blocking SSE client for tests: one HTTP connection, events parsed as the spec says."""

from __future__ import annotations

import http.client
import time
from urllib.parse import urlparse

from django.conf import settings
from django.test import Client


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


class SSEStream:
    def __init__(self, base: str, *, cookie: str | None, path: str = "/events/stream/", headers: dict | None = None):
        url = urlparse(base)
        self.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        sent = {"Accept": "text/event-stream", **(headers or {})}
        if cookie:
            sent["Cookie"] = f"{settings.SESSION_COOKIE_NAME}={cookie}"
        self.conn.request("GET", path, headers=sent)
        self.response = self.conn.getresponse()
        self.status = self.response.status

    def next_block(self) -> dict:
        """The next SSE block (lines up to a blank line) as {id, event, data, comment, retry}."""
        block: dict = {}
        while True:
            line = self.response.readline().decode()
            if line == "":
                raise EOFError("stream closed")
            line = line.rstrip("\r\n")
            if not line:
                if block:
                    return block
                continue
            name, _, value = line.partition(":")
            block[name or "comment"] = value[1:] if value.startswith(" ") else value

    def events(self, count: int, *, timeout: float = 20.0) -> list[dict]:
        """The next ``count`` events (comments and retry hints skipped)."""
        deadline = time.monotonic() + timeout
        found = []
        while len(found) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {len(found)} of {count} events within {timeout}s: {found}")
            block = self.next_block()
            if "event" in block:
                found.append(block)
        return found

    def close(self) -> None:
        self.conn.close()

"""Local HTTP servers that behave as the vendors' specs say (see shared/reference/README.md).

Each records every request (path, headers, JSON) and can be told to answer the next requests with
an error (429 + Retry-After, 5xx, 400) or to hold a request until released, so a test can kill the
worker while the request is on the wire.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = tuple[int, dict[str, str], bytes]


class _Handler(BaseHTTPRequestHandler):
    """Hands each request to ``vendor`` (set on a subclass per server) and writes its answer."""

    vendor: FakeVendor
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # answer at once, not after a delayed ACK

    def log_message(self, *args):
        pass

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        record = {"method": self.command, "path": self.path, "headers": dict(self.headers), "raw": raw}
        record["at"] = time.monotonic()
        record["json"] = body
        self._reply(*self.vendor.receive(record))

    def _reply(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        try:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass  # the client (a killed worker) is gone

    do_GET = do_POST = do_PATCH = do_PUT = _handle


class FakeVendor:
    def __init__(self):
        self.requests: list[dict[str, Any]] = []
        self.scripted: list[Answer] = []
        self.holds = 0
        self.held = threading.Event()  # set when a request is being held
        self.release = threading.Event()
        self.lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"vendor": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)  # the kernel's free port, no race
        self.port = self.server.server_address[1]
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.port}"

    def receive(self, record: dict) -> Answer:
        """Record the request; hold it if told to; answer as scripted, else as the vendor would."""
        with self.lock:
            self.requests.append(record)
            hold = self.holds > 0
            if hold:
                self.holds -= 1
            scripted = self.scripted.pop(0) if self.scripted else None
        if hold:
            self.held.set()
            self.release.wait(30)
        if scripted is None:
            with self.lock:
                scripted = self.answer(record)
        return scripted

    def answer(self, record: dict) -> tuple[int, dict[str, str], bytes]:
        return 200, {}, b""

    def fail_next(self, status: int, body: bytes | str = b"", headers: dict[str, str] | None = None, times: int = 1):
        payload = body.encode() if isinstance(body, str) else body
        with self.lock:
            self.scripted.extend([(status, headers or {}, payload)] * times)

    def hold_next(self) -> None:
        with self.lock:
            self.holds += 1

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def posts(self, path_prefix: str = "") -> list[dict]:
        with self.lock:
            return [r for r in self.requests if r["method"] != "GET" and r["path"].startswith(path_prefix)]


def _json(status: int, doc: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(doc).encode()


class FakeSlack(FakeVendor):
    """Incoming webhooks (``/services/T…/B…/<secret>``): 200 ``ok``; 400 ``invalid_payload``."""

    def answer(self, record):
        body = record["json"]
        if record["method"] != "POST" or not isinstance(body, dict) or not (body.get("text") or body.get("blocks")):
            return 400, {"Content-Type": "text/plain"}, b"invalid_payload"
        return 200, {"Content-Type": "text/plain"}, b"ok"

    def messages(self, route: str = "") -> list[dict]:
        return [r["json"] for r in self.posts("/services/") if r["json"] and r["path"].endswith(route)]


class FakePagerDuty(FakeVendor):
    """Events API v2 at /v2/enqueue. Alerts are keyed by dedup_key: a trigger for an open alert is
    merged into it (no new alert), as PagerDuty does."""

    SEVERITIES = {"critical", "error", "warning", "info"}

    def __init__(self):
        self.alerts: dict[str, str] = {}
        self.opened: Counter[str] = Counter()  # dedup_key → alerts opened (PagerDuty's "one per key")
        super().__init__()

    def answer(self, record):
        event = record["json"]
        errors = []
        if record["path"] != "/v2/enqueue":
            return _json(404, {"status": "not found"})
        if not isinstance(event, dict):
            return _json(400, {"status": "invalid event", "message": "Event object is invalid", "errors": ["json"]})
        if not event.get("routing_key"):
            errors.append("'routing_key' is missing or blank")
        action = event.get("event_action")
        if action not in ("trigger", "acknowledge", "resolve"):
            errors.append("'event_action' is invalid")
        key = event.get("dedup_key") or (uuid.uuid4().hex if action == "trigger" else None)
        if key is None or len(key) > 255:
            errors.append("'dedup_key' is invalid")
        if action == "trigger":
            payload = event.get("payload") or {}
            for field in ("summary", "source", "severity"):
                if not payload.get(field):
                    errors.append(f"'payload.{field}' is missing or blank")
            if payload.get("severity") and payload["severity"] not in self.SEVERITIES:
                errors.append("'payload.severity' is invalid")
            if len(payload.get("summary", "")) > 1024:
                errors.append("'payload.summary' is too long")
        if errors:
            return _json(400, {"status": "invalid event", "message": "Event object is invalid", "errors": errors})
        if action == "trigger" and self.alerts.get(key) not in ("triggered", "acknowledged"):
            self.opened[key] += 1
            self.alerts[key] = "triggered"
        elif action == "acknowledge" and key in self.alerts and self.alerts[key] != "resolved":
            self.alerts[key] = "acknowledged"
        elif action == "resolve" and key in self.alerts:
            self.alerts[key] = "resolved"
        return _json(202, {"status": "success", "message": "Event processed", "dedup_key": key})

    def events(self) -> list[dict]:
        return [r["json"] for r in self.posts("/v2/enqueue")]


class FakeStatuspage(FakeVendor):
    """REST v1 under /pages/<page_id>: incidents create (201), update (200), list unresolved."""

    def __init__(self, page_id: str = "page123", api_key: str = "sp-key"):
        self.page_id, self.api_key = page_id, api_key
        self.incidents: dict[str, dict] = {}
        super().__init__()

    def answer(self, record):
        if record["headers"].get("Authorization") != f"OAuth {self.api_key}":
            return _json(401, {"error": "Could not authenticate"})
        base = f"/pages/{self.page_id}/incidents"
        body = record["json"] or {}
        if record["method"] == "GET" and record["path"] == f"{base}/unresolved":
            return _json(200, [i for i in self.incidents.values() if i["status"] != "resolved"])
        if record["method"] == "POST" and record["path"] == base:
            inc = body.get("incident") or {}
            if not inc.get("name"):
                return _json(422, {"error": "name can't be blank"})
            new = {"id": f"sp{len(self.incidents) + 1}", "page_id": self.page_id, **inc}
            new.setdefault("status", "investigating")
            self.incidents[new["id"]] = new
            return _json(201, new)
        if record["method"] == "PATCH" and record["path"].startswith(base + "/"):
            sp_id = record["path"].rsplit("/", 1)[1]
            if sp_id not in self.incidents:
                return _json(404, {"error": "not found"})
            self.incidents[sp_id].update(body.get("incident") or {})
            return _json(200, self.incidents[sp_id])
        return _json(404, {"error": "not found"})


class FakeReceiver(FakeVendor):
    """A webhook receiver: 200 for anything."""

    def answer(self, record):
        return 200, {}, b""

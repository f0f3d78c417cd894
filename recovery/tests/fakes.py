"""Local HTTP servers that behave as the vendors' specs say (for provider tests)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pitchey_incidents.testing import free_port


class FakeServer:
    """Records every request; ``handler(method, path, body, headers) -> (status, body, headers)``."""

    def __init__(self, handler):
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                outer.requests.append(
                    {"method": self.command, "path": self.path, "body": body, "headers": dict(self.headers)}
                )
                status, answer, headers = handler(self.command, self.path, body, dict(self.headers))
                data = json.dumps(answer).encode() if not isinstance(answer, bytes) else answer
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, *args):
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.port}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _cf_error(status: int, code: int, message: str, headers: dict | None = None):
    return (
        status,
        {"success": False, "errors": [{"code": code, "message": message}], "messages": [], "result": None},
        (headers or {}),
    )


def _cf_ok(result):
    return 200, {"success": True, "errors": [], "messages": [], "result": result}, {}


class FakeCloudflare:
    """Cloudflare API v4 as its spec says: Workers scripts with versions and deployments (the first
    deployment is live; a deployment names versions by id, an unknown one is refused), the GraphQL
    Analytics API's ``workersInvocationsAdaptive`` (requests, errors, CPU time), ``success: false``
    envelopes with error codes, and 429 with ``Retry-After`` when ``rate_limit`` requests are due to be
    refused. Bearer ``cf-token`` only."""

    def __init__(self, scripts: dict[str, list[str]], *, account: str = "acct-drill"):
        self.account = account
        self.deployments = {
            name: [{"id": f"d-{v}", "versions": [{"version_id": v, "percentage": 100}]} for v in versions]
            for name, versions in scripts.items()
        }
        self.versions = {name: set(versions) for name, versions in scripts.items()}
        self.analytics: dict[str, dict] = {}  # script → {requests, errors, cpuTimeP50, cpuTimeP99}
        self.rate_limit = 0
        self.server = FakeServer(self.answer)
        self.url = self.server.url + "/client/v4"

    def live(self, script: str) -> str:
        return self.deployments[script][0]["versions"][0]["version_id"]

    def answer(self, method, path, body, headers):
        if headers.get("Authorization") != "Bearer cf-token":
            return _cf_error(403, 10000, "Authentication error")
        if self.rate_limit > 0:
            self.rate_limit -= 1
            return _cf_error(429, 971, "Please wait and consider throttling your request speed", {"Retry-After": "0"})
        if method == "POST" and path == "/client/v4/graphql":
            return self._graphql(body or {})
        parts = path.split("?")[0].split("/")
        script = parts[parts.index("scripts") + 1] if "scripts" in parts else ""
        if script not in self.deployments:
            return _cf_error(404, 10007, "script not found")
        if method == "GET" and path.endswith("/deployments"):
            return _cf_ok({"deployments": self.deployments[script]})
        if method == "GET" and "/versions/" in path:
            if parts[-1] not in self.versions[script]:
                return _cf_error(404, 10007, "version not found")
            return _cf_ok({"id": parts[-1]})
        if method == "POST" and path.split("?")[0].endswith("/deployments"):
            return self._deploy(script, body or {})
        return _cf_error(404, 7003, "no route")

    def _deploy(self, script: str, body: dict):
        versions = body.get("versions") or []
        if body.get("strategy") != "percentage" or sum(v.get("percentage", 0) for v in versions) != 100:
            return _cf_error(400, 10021, "versions must add up to 100 percent")
        if any(v.get("version_id") not in self.versions[script] for v in versions):
            return _cf_error(400, 10007, "version not found")
        live = self.deployments[script]
        new = {"id": f"d{len(live)}", "versions": versions}
        live.insert(0, new)
        return _cf_ok(new)

    def _graphql(self, body: dict):
        variables = body.get("variables") or {}
        if "workersInvocationsAdaptive" not in (body.get("query") or ""):
            return 200, {"data": None, "errors": [{"message": "unknown field", "path": ["viewer"]}]}, {}
        missing = [k for k in ("accountTag", "scriptName", "since", "until") if not variables.get(k)]
        if missing:
            return 200, {"data": None, "errors": [{"message": f"variable ${missing[0]} is required"}]}, {}
        if variables["accountTag"] != self.account:
            return 200, {"data": {"viewer": {"accounts": []}}, "errors": None}, {}
        totals = self.analytics.get(variables["scriptName"])
        groups = []
        if totals:
            groups = [
                {
                    "sum": {"requests": totals["requests"], "errors": totals["errors"], "subrequests": 0},
                    "quantiles": {"cpuTimeP50": totals.get("cpuTimeP50", 0), "cpuTimeP99": totals.get("cpuTimeP99", 0)},
                }
            ]
        return 200, {"data": {"viewer": {"accounts": [{"workersInvocationsAdaptive": groups}]}}, "errors": None}, {}

    def posts(self, script: str) -> list[dict]:
        return [r for r in self.server.requests if r["method"] == "POST" and f"/scripts/{script}/" in r["path"]]

    def close(self) -> None:
        self.server.close()


class HealthEndpoint:
    """A health endpoint served by the test: ``status()`` decides each answer's HTTP status."""

    def __init__(self, status):
        self.hits = 0

        def handler(method, path, body, headers):
            self.hits += 1
            code = status()
            return code, {"ok": code < 400}, {}

        self.server = FakeServer(handler)
        self.url = self.server.url + "/health"

    def close(self) -> None:
        self.server.close()

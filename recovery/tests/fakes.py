"""Local HTTP servers that behave as the vendors' specs say (for provider tests)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


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

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)  # the kernel's free port, no race
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.port}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def cf_answer(result, status: int = 200) -> tuple[int, dict, dict]:
    return status, {"success": True, "errors": [], "messages": [], "result": result}, {}


def cf_error(status: int, code: int, message: str, headers: dict | None = None) -> tuple[int, dict, dict]:
    return (
        status,
        {"success": False, "errors": [{"code": code, "message": message}], "messages": [], "result": None},
        headers or {},
    )


class FakeCloudflare(FakeServer):
    """Cloudflare API v4 as its spec says, with state, for every test that talks to Cloudflare.

    - Workers scripts (``scripts``: name → versions, newest first; each starts with a deployment of each
      version, newest first, so the first version is live): ``GET …/deployments`` (the first is live),
      ``POST …/deployments`` (``strategy: percentage``, versions of the script adding up to 100 %; an
      unknown version is refused), ``GET …/versions`` (newest first) and ``…/versions/{id}``;
    - secrets: ``GET``/``PUT …/secrets``, ``DELETE …/secrets/{name}``; an edit deploys a new version
      with it at once, and is refused with 10215 while the latest version is not the deployed one;
    - a zone's ``purge_cache`` (one kind per call); the GraphQL Analytics API's
      ``workersInvocationsAdaptive`` (requests, errors, CPU time, from ``analytics``);
    - every answer in the ``{success, errors, messages, result}`` envelope; 403 (10000) on a wrong
      token, 404 on an unknown script, route or version; 429 with ``Retry-After`` while
      ``rate_limited`` requests are due to be refused; a 500 on the next ``fail_secrets`` secret edits;
      error 10220 (a deployment would drop a newer one's settings) on the next ``force_required``
      deployments asked without ``?force=true``.
    ``worker`` is the platform's Worker (the default script)."""

    def __init__(
        self,
        scripts: dict[str, list[str]] | None = None,
        *,
        token: str = "cf-token",
        account: str = "acct-1",
        zone: str = "zone-1",
        worker: str = "pitchey-api",
    ):
        self.token, self.account, self.zone, self.worker = token, account, zone, worker
        scripts = scripts if scripts is not None else {worker: ["v3", "v2"]}
        self.versions = {name: list(versions) for name, versions in scripts.items()}  # newest first
        self.deployments = {
            name: [{"id": f"d-{v}", "versions": [{"version_id": v, "percentage": 100}]} for v in versions]
            for name, versions in scripts.items()
        }
        self.secrets: dict[str, dict[str, str]] = {name: {} for name in scripts}
        self.analytics: dict[str, dict] = {}  # script → {requests, errors, cpuTimeP50, cpuTimeP99}
        self.purges: list[dict] = []
        self.rate_limited = 0
        self.fail_secrets = 0
        self.force_required = 0
        # A slow vendor on demand: while ``hold`` is an Event, a secret edit waits for it to be set
        # (``held`` is set once one is waiting).
        self.hold: threading.Event | None = None
        self.held = threading.Event()
        super().__init__(self._handle)
        self.api_url = self.url + "/client/v4"

    def script_path(self, script: str = "") -> str:
        return f"/client/v4/accounts/{self.account}/workers/scripts/{script or self.worker}"

    @property
    def script(self) -> str:
        return self.script_path()

    def live(self, script: str = "") -> str:
        return self.deployments[script or self.worker][0]["versions"][0]["version_id"]

    def posts(self, script: str) -> list[dict]:
        """The deployments and secret edits asked of one script."""
        return [r for r in self.requests if r["method"] == "POST" and f"/scripts/{script}/" in r["path"]]

    def changes(self, script: str) -> list[dict]:
        """Every request that could change one script: anything but a GET."""
        return [r for r in self.requests if r["method"] != "GET" and f"/scripts/{script}/" in r["path"]]

    def _handle(self, method, path, body, headers):
        if headers.get("Authorization") != f"Bearer {self.token}":
            return cf_error(403, 10000, "Authentication error")
        if self.rate_limited > 0:
            self.rate_limited -= 1
            return cf_error(429, 971, "Please wait and consider throttling your request speed", {"Retry-After": "0"})
        route = path.split("?")[0]
        if method == "POST" and route == "/client/v4/graphql":
            return self._graphql(body or {})
        if method == "POST" and route == f"/client/v4/zones/{self.zone}/purge_cache":
            return self._purge(body)
        prefix = f"/client/v4/accounts/{self.account}/workers/scripts/"
        if not route.startswith(prefix):
            return cf_error(404, 7003, "Could not route to this path")
        script, _, rest = route[len(prefix) :].partition("/")
        if script not in self.deployments:
            return cf_error(404, 10007, "workers.api.error.script_not_found")
        return self._worker(method, script, "/" + rest, body, path.partition("?")[2])

    def _purge(self, body):
        kinds = set(body or {}) & {"purge_everything", "files", "tags", "hosts", "prefixes"}
        if len(kinds) != 1 or set(body) - kinds:
            return cf_error(400, 1012, "Request must contain one of purge_everything, files, tags, hosts or prefixes")
        self.purges.append(body)
        return cf_answer({"id": f"purge-{len(self.purges)}"})

    def _worker(self, method, script, rest, body, query=""):
        if rest == "/secrets" or rest.startswith("/secrets/"):
            return self._secrets(method, script, rest, body)
        if method == "GET" and rest == "/deployments":
            return cf_answer({"deployments": self.deployments[script]})
        if method == "POST" and rest == "/deployments":
            return self._deploy(script, body or {}, forced="force=true" in query)
        if method == "GET" and rest == "/versions":
            return cf_answer({"items": [{"id": v} for v in self.versions[script]]})
        if method == "GET" and rest.startswith("/versions/"):
            version = rest.rsplit("/", 1)[-1]
            if version not in self.versions[script]:
                return cf_error(404, 10007, "version not found")
            return cf_answer({"id": version})
        return cf_error(404, 7003, "Could not route to this path")

    def _deploy(self, script: str, body: dict, *, forced: bool):
        versions = body.get("versions") or []
        if self.force_required and not forced:
            self.force_required -= 1
            return cf_error(400, 10220, "this deployment would drop the settings of a newer one: use force=true")
        if body.get("strategy") != "percentage" or sum(v.get("percentage", 0) for v in versions) != 100:
            return cf_error(400, 10021, "versions must add up to 100 percent")
        if any(v.get("version_id") not in self.versions[script] for v in versions):
            return cf_error(400, 10007, "version not found")
        deployments = self.deployments[script]
        new = {"id": f"d{len(deployments) + 1}", "strategy": "percentage", "versions": versions}
        deployments.insert(0, new)
        return cf_answer(new)

    def _secrets(self, method, script, rest, body):
        if method == "GET" and rest == "/secrets":
            return cf_answer([{"name": n, "type": "secret_text"} for n in sorted(self.secrets[script])])
        if method not in ("PUT", "DELETE"):
            return cf_error(404, 7003, "Could not route to this path")
        gate = self.hold
        if gate is not None:
            self.held.set()
            gate.wait(timeout=120)
        if self.fail_secrets:
            self.fail_secrets -= 1
            return cf_error(500, 10013, "workers.api.error.unknown")
        if method == "PUT" and (not body or body.get("type") != "secret_text" or not body.get("name")):
            return cf_error(400, 10021, "secret must have name, text and type secret_text")
        name = body["name"] if method == "PUT" else rest.rsplit("/", 1)[-1]
        if method == "DELETE" and name not in self.secrets[script]:
            return cf_error(404, 10056, "workers.api.error.secret_not_found")
        if self.live(script) != self.versions[script][0]:
            refused = "Secret edit failed. The latest version of the Worker isn't currently deployed."
            return cf_error(400, 10215, refused)
        if method == "PUT":
            self.secrets[script][name] = body["text"]
        else:
            del self.secrets[script][name]
        new = f"v{sum(len(v) for v in self.versions.values()) + 1}-{script}"  # the edit deploys a new version
        self.versions[script].insert(0, new)
        self.deployments[script].insert(0, {"id": f"d-{new}", "versions": [{"version_id": new, "percentage": 100}]})
        return cf_answer({"name": name, "type": "secret_text"} if method == "PUT" else None)

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


class FakeNeon(FakeServer):
    """Neon API v2 endpoints as the spec says: GET and PATCH an endpoint's autoscaling limits, each
    change answering with operations that finish on the next poll; 401 on a wrong key, 429 on ask."""

    def __init__(
        self, *, key: str = "neon-key", project: str = "proj-1", endpoint: str = "ep-1", min_cu=1.0, max_cu=2.0
    ):
        self.key, self.project, self.endpoint = key, project, endpoint
        self.compute = {"autoscaling_limit_min_cu": min_cu, "autoscaling_limit_max_cu": max_cu}
        self.operations: dict[str, str] = {}
        self.rate_limited = 0
        super().__init__(self._handle)

    def _handle(self, method, path, body, headers):
        if headers.get("Authorization") != f"Bearer {self.key}":
            return 401, {"code": "", "message": "authorization failed"}, {}
        if self.rate_limited:
            self.rate_limited -= 1
            return 429, {"code": "", "message": "rate limit exceeded"}, {"Retry-After": "0"}
        base = f"/api/v2/projects/{self.project}"
        if path == f"{base}/endpoints/{self.endpoint}":
            return self._endpoint(method, body)
        if method == "GET" and path.startswith(f"{base}/operations/"):
            op = path.rsplit("/", 1)[-1]
            if op not in self.operations:
                return 404, {"code": "", "message": "not found"}, {}
            self.operations[op] = "finished"
            return 200, {"operation": {"id": op, "action": "apply_config", "status": "finished"}}, {}
        return 404, {"code": "", "message": "not found"}, {}

    def _endpoint(self, method, body):
        if method == "GET":
            return 200, {"endpoint": {"id": self.endpoint, **self.compute}}, {}
        if method != "PATCH":
            return 405, {"code": "", "message": "method not allowed"}, {}
        change = (body or {}).get("endpoint") or {}
        low, high = change.get("autoscaling_limit_min_cu"), change.get("autoscaling_limit_max_cu")
        if low is None or high is None or low > high or high - low > 8:
            return 400, {"code": "", "message": "autoscaling limits are not valid", "request_id": "r1"}, {}
        self.compute = {"autoscaling_limit_min_cu": low, "autoscaling_limit_max_cu": high}
        op = f"op-{len(self.operations) + 1}"
        self.operations[op] = "running"
        return (
            200,
            {"endpoint": {"id": self.endpoint, **self.compute}, "operations": [{"id": op, "status": "running"}]},
            {},
        )


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

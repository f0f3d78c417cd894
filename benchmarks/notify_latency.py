"""Notification latency: declare a P0 → first request at local PagerDuty and Slack servers.

Runs the real path: ``incident_declare`` in this process writes the outbox rows, publishes on
commit, and a real Celery worker (another process) delivers them. Baseline: the same HTTP post sent
directly from this process. Goal: p95 under 1 s end to end.

Uses a scratch database (PostgreSQL when DATABASE_URL is one, else a temporary SQLite file) and the
broker from CELERY_BROKER_URL (Redis in production; the embedded one otherwise).

    .venv/bin/python benchmarks/notify_latency.py [--quick] [--incidents N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class Arrivals:
    """A local server for both vendors: records when the first request about each incident arrives."""

    def __init__(self):
        self.first: dict[tuple[str, str], float] = {}
        self.lock = threading.Lock()
        arrivals = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # answer at once, not after a delayed ACK

            def log_message(self, *args):
                pass

            def do_POST(self):
                at = time.perf_counter()
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                if self.path == "/v2/enqueue":
                    vendor, key = "pagerduty", body.get("dedup_key", "").rsplit("/", 1)[-1]
                    status, payload = 202, json.dumps({"status": "success", "dedup_key": body.get("dedup_key")})
                else:
                    text = body.get("text", "")
                    vendor, key = "slack", text.split("INCIDENT DECLARED: ")[1].split()[0] if "DECLARED" in text else ""
                    status, payload = 200, "ok"
                with arrivals.lock:
                    arrivals.first.setdefault((vendor, key), at)
                data = payload.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def line(name: str, values: list[float]) -> str:
    return f"{name:<28} p50 {percentile(values, 50) * 1000:7.1f} ms  p95 {percentile(values, 95) * 1000:7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 incidents instead of 100")
    parser.add_argument("--incidents", type=int, default=None)
    args = parser.parse_args()
    count = args.incidents or (20 if args.quick else 100)

    server = Arrivals()
    os.environ.update(
        {
            "TESTING": "1",  # per-run broker key prefix and queue folder: never another run's queues
            "SLACK_WEBHOOK_CRITICAL": f"{server.url}/services/T0/B0/bench",
            "PAGERDUTY_ROUTING_KEY": "bench-routing-key",
            "PAGERDUTY_EVENTS_URL": server.url,
            "VAR_DIR": tempfile.mkdtemp(prefix="notify-bench-"),
        }
    )
    for name in ("SLACK_WEBHOOK", "SLACK_WEBHOOK_WARNING", "STATUSPAGE_API_KEY", "OUTGOING_WEBHOOK_URL"):
        os.environ[name] = ""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pitchey_incidents.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.test.utils import setup_databases, teardown_databases

    settings.DATABASES["default"]["TEST"]["NAME"] = (
        f"bench_notify_{os.getpid()}"
        if "postgresql" in settings.DATABASES["default"]["ENGINE"]
        else str(Path(os.environ["VAR_DIR"]) / "bench.sqlite3")
    )
    old = setup_databases(verbosity=0, interactive=False)
    import requests

    from incidents.lifecycle.services import incident_declare
    from pitchey_incidents.testing import start_worker

    worker = start_worker(Path(os.environ["VAR_DIR"]), concurrency=2, name="bench")
    try:
        # Baseline: the same POST straight from this process.
        direct = []
        session = requests.Session()
        for i in range(count):
            start = time.perf_counter()
            session.post(f"{server.url}/v2/enqueue", json={"dedup_key": f"direct/{i}"}, timeout=10)
            direct.append(time.perf_counter() - start)
        pd, slack = [], []
        incident_declare(severity="P0", title="warm-up", actor="bench")  # worker imports, connections
        time.sleep(1)
        for _ in range(count):
            start = time.perf_counter()
            incident = incident_declare(severity="P0", title="Database Outage", actor="bench")
            keys = [("pagerduty", incident.public_id), ("slack", incident.public_id)]
            deadline = time.monotonic() + 30
            while not all(k in server.first for k in keys):
                if time.monotonic() > deadline:
                    raise SystemExit(f"no delivery for {incident.public_id} within 30 s; see {worker.log_path}")
                time.sleep(0.002)
            pd.append(server.first[keys[0]] - start)
            slack.append(server.first[keys[1]] - start)
    finally:
        worker.stop()
        teardown_databases(old, verbosity=0)
        server.server.shutdown()
    broker = settings.CELERY_BROKER_URL.split("://")[0]
    database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    print(f"{count} P0 incidents, worker concurrency 2, broker {broker}, database {database}")
    print(line("direct HTTP post (baseline)", direct))
    print(line("declare → PagerDuty", pd))
    print(line("declare → Slack", slack))
    worst = max(percentile(pd, 95), percentile(slack, 95))
    verdict = "meets" if worst < 1.0 else "MISSES"
    print(
        f"end-to-end p95 {worst * 1000:.1f} ms ({verdict} the 1 s goal) = "
        f"{worst / percentile(direct, 95):.1f}× the direct post's p95"
    )


if __name__ == "__main__":
    main()

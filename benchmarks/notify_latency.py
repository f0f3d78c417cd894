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
import time
from pathlib import Path

from _common import FirstArrivals, django_test_database, latency_line, percentile, wait_until


def answer(path: str, raw: bytes):
    """PagerDuty's Events API and a Slack webhook: keyed by vendor and incident id."""
    body = json.loads(raw or b"{}")
    if path == "/v2/enqueue":
        key = ("pagerduty", body.get("dedup_key", "").rsplit("/", 1)[-1])
        return key, 202, json.dumps({"status": "success", "dedup_key": body.get("dedup_key")}).encode(), {}
    text = body.get("text", "")
    key = ("slack", text.split("INCIDENT DECLARED: ")[1].split()[0] if "DECLARED" in text else "")
    return key, 200, b"ok", {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 incidents instead of 100")
    parser.add_argument("--incidents", type=int, default=None)
    args = parser.parse_args()
    count = args.incidents or (20 if args.quick else 100)

    server = FirstArrivals(answer)
    env = {
        "SLACK_WEBHOOK_CRITICAL": f"{server.url}/services/T0/B0/bench",
        "PAGERDUTY_ROUTING_KEY": "bench-routing-key",
        "PAGERDUTY_EVENTS_URL": server.url,
    }
    blank = ("SLACK_WEBHOOK", "SLACK_WEBHOOK_WARNING", "STATUSPAGE_API_KEY", "OUTGOING_WEBHOOK_URL")
    with django_test_database("notify", env, blank) as settings:
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
                failure = f"no delivery for {incident.public_id} within 30 s; see {worker.log_path}"
                wait_until(lambda keys=keys: all(k in server.first for k in keys), failure)
                pd.append(server.first[keys[0]] - start)
                slack.append(server.first[keys[1]] - start)
        finally:
            worker.stop()
            server.stop()
    broker = settings.CELERY_BROKER_URL.split("://")[0]
    database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    print(f"{count} P0 incidents, worker concurrency 2, broker {broker}, database {database}")
    print(latency_line("direct HTTP post (baseline)", direct))
    print(latency_line("declare → PagerDuty", pd))
    print(latency_line("declare → Slack", slack))
    worst = max(percentile(pd, 95), percentile(slack, 95))
    verdict = "meets" if worst < 1.0 else "MISSES"
    print(
        f"end-to-end p95 {worst * 1000:.1f} ms ({verdict} the 1 s goal) = "
        f"{worst / percentile(direct, 95):.1f}× the direct post's p95"
    )


if __name__ == "__main__":
    main()

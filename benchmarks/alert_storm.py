"""Alert intake under a storm, against the production server setup (uvicorn on the ASGI app).

Measures, on one server and one scratch database:
1. baseline: Alertmanager-shaped batches of 10 alerts posted by concurrent clients to a no-op
   authenticated endpoint (``/api/v1/alerts/alertmanager/ping/``: same auth, no parsing, no writes);
2. the storm: 10,000 alerts in 20 groups posted the same way to ``/api/v1/alerts/alertmanager/``,
   then checked in the database: exactly 20 incidents, no alert lost;
3. latency at a steady 100 batches/s (open loop), p50/p99.

Goals (issue 5): intake throughput ≥ half the no-op's, p99 < 100 ms at 100 batches/s, 20 incidents,
no alert lost. Prints the throughput ratio last.

    .venv/bin/python benchmarks/alert_storm.py [--quick] [--clients 8] [--web-workers 2]

Uses PostgreSQL when DATABASE_URL points at one (a scratch database is created and dropped; the
web server gets DB_POOL=1 unless set), else a SQLite file in a temporary folder.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import requests
from _common import production_server


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def batch(group: int, start: int, size: int = 10) -> dict:
    alerts = []
    for n in range(start, start + size):
        labels = {"alertname": f"Storm{group}", "instance": f"host-{n}", "severity": "critical", "service": "api"}
        alerts.append(
            {
                "status": "firing",
                "labels": labels,
                "annotations": {"summary": f"Storm{group} on host-{n}"},
                "startsAt": "2026-11-27T05:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus/graph",
                "fingerprint": hashlib.sha256(f"{group}:{n}".encode()).hexdigest()[:16],
            }
        )
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="Storm{group}"}}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "pitchey",
        "groupLabels": {"alertname": f"Storm{group}"},
        "commonLabels": {"alertname": f"Storm{group}"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts,
    }


def closed_loop(url: str, secret: str, payloads: list[dict], clients: int) -> tuple[float, list[float], int]:
    """Every client posts as fast as it can; returns (batches/s, latencies in ms, failures)."""
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    chunks = [payloads[i::clients] for i in range(clients)]

    def client(chunk: list[dict]) -> None:
        nonlocal failures
        session = requests.Session()
        headers = {"Authorization": f"Bearer {secret}"}
        for body in chunk:
            t0 = time.perf_counter()
            r = session.post(url, json=body, headers=headers, timeout=60)
            ms = (time.perf_counter() - t0) * 1000
            with lock:
                latencies.append(ms)
                failures += r.status_code not in (200, 202)

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, chunks))
    return len(payloads) / (time.perf_counter() - start), latencies, failures


def open_loop(url: str, secret: str, payloads: list[dict], rate: float, clients: int) -> tuple[list[float], int]:
    """Send at a fixed rate whatever the answers; latency includes any queueing on our side."""
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    local = threading.local()

    def send(body: dict, due: float) -> None:
        nonlocal failures
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        r = session.post(url, json=body, headers={"Authorization": f"Bearer {secret}"}, timeout=60)
        ms = (time.perf_counter() - due) * 1000
        with lock:
            latencies.append(ms)
            failures += r.status_code != 202

    start = time.perf_counter() + 0.2
    with ThreadPoolExecutor(clients) as pool:
        for i, body in enumerate(payloads):
            pool.submit(send, body, start + i / rate)
    return latencies, failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (under a minute)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--web-workers", type=int, default=int(os.environ.get("WEB_WORKERS", "2")))
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=20)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="alert-storm-"))
    base_url = os.environ.get("DATABASE_URL", "")
    scratch = f"bench_alert_storm_{os.getpid()}"
    if base_url.startswith(("postgres://", "postgresql://")):
        import psycopg

        admin = psycopg.connect(base_url, autocommit=True)
        admin.execute(f'CREATE DATABASE "{scratch}"')
        db_url = base_url.rsplit("/", 1)[0] + f"/{scratch}"
    else:
        admin, db_url = None, f"sqlite:///{tmp / 'bench.sqlite3'}"
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": db_url,
            "DEBUG": "0",
            "SECRET_KEY": "bench-" + hashlib.sha256(str(tmp).encode()).hexdigest(),
            "VAR_DIR": str(tmp),
            "BROKER_DIR": str(tmp / "broker"),
            "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL", "filesystem://"),
            "CELERY_QUEUE_PREFIX": f"bench-{os.getpid()}:",
            "LOG_LEVEL": "WARNING",
        }
    )
    if admin is not None:
        env.setdefault("DB_POOL", "1")  # the production setting for uvicorn (README)
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "pitchey_incidents.settings"
    import django

    django.setup()
    from django.core.management import call_command

    from incidents.detection import alerting
    from incidents.detection.models import Alert
    from incidents.lifecycle.models import Incident

    servers = ExitStack()
    try:
        call_command("migrate", verbosity=0)
        _, secret = alerting.alertsource_create(name="bench", kind="alertmanager", actor="bench")
        base, _ = servers.enter_context(production_server(env, workers=args.web_workers))
        total = 2_000 if args.quick and args.alerts == 10_000 else args.alerts
        per_group = total // args.groups
        storm = [batch(g, start, 10) for start in range(0, per_group, 10) for g in range(args.groups)]
        warm = [batch(999, n, 10) for n in range(0, 10 * args.clients * 2, 10)]
        closed_loop(f"{base}/api/v1/alerts/alertmanager/ping/", secret, warm, args.clients)

        noop_rate, noop_lat, noop_fail = closed_loop(
            f"{base}/api/v1/alerts/alertmanager/ping/", secret, storm, args.clients
        )
        print(
            f"no-op endpoint: {len(storm)} batches, {noop_rate:,.0f} batches/s, "
            f"p50 {pct(noop_lat, 0.5):.1f} ms, p99 {pct(noop_lat, 0.99):.1f} ms, failures {noop_fail}"
        )
        rate, lat, fail = closed_loop(f"{base}/api/v1/alerts/alertmanager/", secret, storm, args.clients)
        print(
            f"alert intake:   {len(storm)} batches, {rate:,.0f} batches/s ({rate * 10:,.0f} alerts/s), "
            f"p50 {pct(lat, 0.5):.1f} ms, p99 {pct(lat, 0.99):.1f} ms, failures {fail}"
        )

        incidents = Incident.objects.filter(source="alertmanager").count()
        stored = Alert.objects.count()
        lost = args.groups * per_group - stored
        print(
            f"storm: {args.groups * per_group} alerts in {args.groups} groups -> {incidents} incidents, "
            f"{stored} alerts stored, {lost} lost"
        )

        seconds = 3 if args.quick else 10
        steady = [batch(g, 0, 10) for g in range(args.groups)] * (100 * seconds // args.groups)
        steady_lat, steady_fail = open_loop(f"{base}/api/v1/alerts/alertmanager/", secret, steady, 100, 32)
        print(
            f"steady 100 batches/s for {seconds}s: p50 {pct(steady_lat, 0.5):.1f} ms, "
            f"p99 {pct(steady_lat, 0.99):.1f} ms, failures {steady_fail} (goal p99 < 100 ms)"
        )
        ok = incidents == args.groups and lost == 0 and fail == 0
        print(
            f"goals: 20 incidents and none lost: {'met' if ok else 'NOT met'}; "
            f"p99 at 100/s: {'met' if pct(steady_lat, 0.99) < 100 else 'NOT met'}; "
            f"throughput ratio: {'met' if rate / noop_rate >= 0.5 else 'NOT met'}"
        )
        print(f"ratio intake/no-op throughput: {rate / noop_rate:.2f} (goal >= 0.50)")
        return 0 if ok else 1
    finally:
        servers.close()
        from django.db import connections

        connections.close_all()
        if admin is not None:
            admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
            admin.close()
        if env["CELERY_BROKER_URL"].startswith("redis"):
            import redis

            client = redis.Redis.from_url(env["CELERY_BROKER_URL"])
            for key in client.scan_iter(match=f"{env['CELERY_QUEUE_PREFIX']}*"):
                client.delete(key)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

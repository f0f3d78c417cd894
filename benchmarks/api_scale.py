"""API at scale: 100,000 incidents and 1,000,000 timeline entries.

Measures p50/p95 of the incident list, an incident detail with its timeline, and a no-op
authenticated endpoint (``/api/v1/whoami/``) on the same production server (uvicorn, DEBUG=0,
PostgreSQL). Goal: list and detail p95 under 100 ms and at most 3× the no-op endpoint.

    .venv/bin/python benchmarks/api_scale.py [--quick] [--requests N]
"""

from __future__ import annotations

import argparse
import io
import random
import time
from datetime import UTC, datetime, timedelta

import psycopg
import requests
from _common import env_for, manage, percentile, production_server, scratch_database, summary


def bulk_load(url: str, incidents: int, entries: int) -> None:
    """COPY incidents and timeline entries straight into the tables, as a restored production DB."""
    now = datetime.now(UTC)
    statuses = ["resolved"] * 8 + ["closed", "triggered", "acknowledged", "mitigating", "monitoring"]
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        buf = io.StringIO()
        for i in range(1, incidents + 1):
            at = now - timedelta(minutes=incidents - i)
            buf.write(
                f"{i}\tP{i % 4}\tIncident {i}\t\t{random.choice(statuses)}\tinvestigating\tapi\tbench\t"
                f"{at.isoformat()}\t0\t\t{at.isoformat()}\n"
            )
        buf.seek(0)
        with cur.copy(
            "COPY incidents_incident (id, severity, title, description, status, public_status, source, "
            "declared_by, declared_at, escalation_level, resolution, updated_at) FROM STDIN"
        ) as copy:
            copy.write(buf.read())
        per = max(1, entries // incidents)
        with cur.copy("COPY incidents_timelineentry (incident_id, at, kind, actor, message, data) FROM STDIN") as cp:
            chunk = io.StringIO()
            for i in range(1, incidents + 1):
                at = now - timedelta(minutes=incidents - i)
                for j in range(per):
                    chunk.write(f"{i}\t{(at + timedelta(seconds=j)).isoformat()}\tnote\tbench\tEntry {j}\t{{}}\n")
                if i % 5000 == 0:
                    cp.write(chunk.getvalue())
                    chunk = io.StringIO()
            cp.write(chunk.getvalue())
        cur.execute("SELECT setval(pg_get_serial_sequence('incidents_incident', 'id'), %s)", (incidents,))
        cur.execute(
            "INSERT INTO incidents_incident_services (incident_id, service_id) "
            "SELECT i.id, s.id FROM incidents_incident i JOIN incidents_service s ON s.slug = 'api'"
        )
        conn.commit()
        cur.execute("ANALYZE")


def measure(session: requests.Session, url: str, n: int) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        r = session.get(url, timeout=30)
        times.append(time.perf_counter() - start)
        r.raise_for_status()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 incidents and 100,000 entries")
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    incidents, entries = (10_000, 100_000) if args.quick else (100_000, 1_000_000)
    with scratch_database("bench_api") as url:
        env = env_for(url)
        manage(env, "migrate", "--noinput")
        started = time.perf_counter()
        bulk_load(url, incidents, entries)
        print(
            f"loaded {incidents:,} incidents and {entries:,} timeline entries in {time.perf_counter() - started:.1f}s"
        )
        token = manage(env, "createuser", "bench", "--role", "viewer").strip()
        with production_server(env) as (base, _):
            s = requests.Session()
            s.headers["Authorization"] = f"Token {token}"
            target = f"INC-{incidents // 2:05d}"
            for path in ("/api/v1/whoami/", "/api/v1/incidents/", f"/api/v1/incidents/{target}/"):
                measure(s, base + path, 20)  # warm up
            noop = measure(s, base + "/api/v1/whoami/", args.requests)
            lst = measure(s, base + "/api/v1/incidents/", args.requests)
            detail = measure(s, f"{base}/api/v1/incidents/{target}/?include=timeline", args.requests)
    print(f"no-op (whoami)            {summary(noop)}")
    print(f"incident list (page 1)    {summary(lst)}")
    print(f"detail + timeline         {summary(detail)}")
    base_p95 = percentile(noop, 95)
    print(
        f"goal: p95 < 100 ms and <= 3x no-op | list p95 {percentile(lst, 95) * 1000:.1f} ms, "
        f"detail p95 {percentile(detail, 95) * 1000:.1f} ms"
    )
    print(
        f"ratio list/no-op p95 = {percentile(lst, 95) / base_p95:.2f}  "
        f"detail/no-op p95 = {percentile(detail, 95) / base_p95:.2f}"
    )


if __name__ == "__main__":
    main()

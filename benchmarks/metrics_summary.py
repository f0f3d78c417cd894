"""Metrics summary over many incidents: time and queries of `incident_metrics` (fixed query count)
against a per-incident baseline (one services query per incident, the N+1 the selector avoids).

    .venv/bin/python benchmarks/metrics_summary.py [--quick]

Uses a scratch PostgreSQL database (BENCH_DATABASE_URL's server). Last line: the ratio baseline/ours.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from datetime import UTC, datetime, timedelta

from _common import ROOT, scratch_database


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="2,000 incidents instead of 20,000")
    args = parser.parse_args()
    count = 2_000 if args.quick else 20_000
    with scratch_database("bench_metrics") as url:
        os.environ.update({"DATABASE_URL": url, "DEBUG": "0", "SECRET_KEY": "bench-" + "x" * 50})
        os.environ.setdefault("VAR_DIR", str(ROOT / "var" / "bench"))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pitchey_incidents.settings")
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        run(count)
        from django.db import connections

        connections.close_all()


def run(count: int) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from incidents.lifecycle.models import Incident
    from incidents.postmortems import mttx as metrics_selectors
    from recovery.models import Service

    rng = random.Random(7)
    start = datetime(2026, 10, 1, tzinfo=UTC)
    services = list(Service.objects.all())
    rows = []
    for i in range(count):
        declared = start + timedelta(minutes=i * 2)
        rows.append(
            Incident(
                severity=rng.choice(["P0", "P1", "P2", "P3"]),
                title=f"bench {i}",
                declared_at=declared,
                detected_at=declared - timedelta(seconds=rng.randint(0, 600)),
                acknowledged_at=declared + timedelta(seconds=rng.randint(30, 7200)),
                mitigated_at=declared + timedelta(seconds=rng.randint(600, 10000)),
                resolved_at=declared + timedelta(seconds=rng.randint(10000, 40000)),
                status="resolved",
            )
        )
    created = Incident.objects.bulk_create(rows, batch_size=2000)
    Through = Incident.services.through
    Through.objects.bulk_create(
        [Through(incident_id=inc.id, service_id=rng.choice(services).id) for inc in created], batch_size=5000
    )
    since, until = start, start + timedelta(days=400)

    def ours() -> dict:
        return metrics_selectors.incident_metrics(since=since, until=until)

    def baseline() -> dict:
        # What a straightforward loop does: one query for the services of each incident.
        by_service: dict[str, list[float]] = {}
        for inc in Incident.objects.filter(declared_at__gte=since, declared_at__lt=until):
            for service in inc.services.all():
                by_service.setdefault(service.slug, []).append((inc.resolved_at - inc.declared_at).total_seconds())
        return {slug: sum(v) / len(v) for slug, v in by_service.items()}

    results = {}
    for name, fn in (("incident_metrics", ours), ("per-incident baseline", baseline)):
        fn()  # warm up
        with CaptureQueriesContext(connection) as queries:
            t0 = time.perf_counter()
            fn()
            elapsed = time.perf_counter() - t0
        results[name] = elapsed
        print(f"{name:24s} {count:6d} incidents  {elapsed * 1000:9.1f} ms  {len(queries):6d} queries")
    check = ours()
    assert check["incidents"] == count, check["incidents"]
    assert round(baseline()["database"]) == round(check["by_service"]["database"]["mttr_s"]), "results differ"
    print(f"ratio baseline/ours: {results['per-incident baseline'] / results['incident_metrics']:.1f}x")


if __name__ == "__main__":
    main()

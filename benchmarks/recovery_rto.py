"""Achieved RTO of the `database` recovery plan on a pgbench target, against the runbook's 15-minute
target and against a hand-typed stock restore (zstd -d, createdb, pg_restore -j 2) as the baseline.

    .venv/bin/python benchmarks/recovery_rto.py            # pgbench scale 65 (~1 GB)
    .venv/bin/python benchmarks/recovery_rto.py --quick    # scale 5, under a minute

Needs a local PostgreSQL (BENCH_PG_URL, default postgresql://postgres@127.0.0.1:5432/postgres) and
pgbench. Goal: RTO under 10 % of the target, and within 1.2x of the stock restore. Ratios print last.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TARGET_RTO_S = 15 * 60


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="pgbench scale 5 instead of 65")
    parser.add_argument("--scale", type=int)
    args = parser.parse_args()
    scale = args.scale or (5 if args.quick else 65)
    base = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    work = Path(tempfile.mkdtemp(prefix="recovery-bench-"))
    name = f"bench_target_{secrets.token_hex(3)}"
    target = base.rsplit("/", 1)[0] + "/" + name
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "pitchey_incidents.settings",
            "DEBUG": "1",
            "VAR_DIR": str(work / "var"),
            "DATABASE_URL": f"sqlite:///{work / 'own.sqlite3'}",
            "CELERY_BROKER_URL": "filesystem://",
            "TARGET_DATABASE_URL": target,
            "BACKUP_SCRATCH_DATABASE_URL": base,
            "BACKUP_DIR": str(work / "backups"),
            "MEDIA_DIR": str(work / "media"),
            "R2_BUCKET": "",
            "REDIS_URL": "",
            "TARGET_REDIS_URL": "",
        }
    )
    (work / "media").mkdir()
    import django

    django.setup()
    from django.core.management import call_command

    from backups import restore
    from backups import services as backup_services
    from recovery import services

    call_command("migrate", verbosity=0)
    restore.create_database(base, name)
    made: list[str] = [name]
    try:
        t0 = time.monotonic()
        subprocess.run(["pgbench", "-i", "-q", "-s", str(scale), target], check=True, capture_output=True)
        print(f"pgbench scale {scale}: {time.monotonic() - t0:.1f}s to load")
        backup = backup_services.backup_start(kind="database", actor="bench", inline=True)
        assert backup.status == "succeeded", backup.error
        print(f"backup #{backup.id}: {backup.size_bytes / 1e6:.1f} MB stored")

        # Baseline: what an operator would type by hand.
        artifact = Path(backup.locations.get(tier="local").uri.removeprefix("file://"))
        stock_db = f"{name}_stock"
        made.append(stock_db)
        t0 = time.monotonic()
        dump = work / "stock.dump"
        subprocess.run(["zstd", "-q", "-d", "-f", str(artifact), "-o", str(dump)], check=True)
        subprocess.run(["psql", "-q", base, "-c", f"CREATE DATABASE {stock_db}"], check=True)
        stock_url = base.rsplit("/", 1)[0] + "/" + stock_db
        subprocess.run(["pg_restore", "-j", "2", "--no-owner", "-d", stock_url, str(dump)], check=True)
        stock_s = time.monotonic() - t0
        print(f"stock restore (zstd -d; CREATE DATABASE; pg_restore -j 2): {stock_s:.2f}s")

        import psycopg

        with psycopg.connect(target, autocommit=True) as conn:
            conn.execute("DROP TABLE pgbench_accounts")  # the disaster
        run = services.run_start(plan="database", actor="bench", inline=True)
        run.refresh_from_db()
        steps = {s.name: s for s in run.steps.all()}
        made.append(steps["restore_backup"].data.get("kept_as", ""))
        assert run.status == "succeeded", [(s.name, s.status, s.output) for s in steps.values()]
        rto = run.objectives.get(kind="rto", subject="database").achieved_s
        for s in steps.values():
            if s.started_at:
                at = (s.started_at - run.started_at).total_seconds()
                print(f"  +{at:6.2f}s {s.name:<18} {s.status:<9} {s.duration_s or 0:.2f}s")
        with psycopg.connect(target) as conn:
            rows = conn.execute("SELECT count(*) FROM pgbench_accounts").fetchone()[0]
        assert rows == scale * 100_000, rows
        print(
            f"database plan: achieved RTO {rto:.2f}s (restore step {steps['restore_backup'].duration_s:.2f}s), "
            f"{rows} accounts back"
        )
        print(f"RTO / 15-minute target: {rto / TARGET_RTO_S:.4f} (goal < 0.10)")
        print(f"ratio RTO / stock restore: {rto / stock_s:.2f}x (goal <= 1.2x)")
    finally:
        for db in made:
            if db:
                restore.drop_database(base, db)
        subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()

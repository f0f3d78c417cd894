"""Backup speed: our `backup database --inline` against the runbook's pipe and pg_dump's own limit.

A database of about 1 GB (``--quick``: about 40 MB) mixes pgbench tables (compress ~50:1) with an
application-like table of hex text (compresses ~2:1, at least half of the size). Median of three
alternating runs of:
  (a) the runbook's   pg_dump "$URL" | gzip > f.sql.gz
  (b) pg_dump's limit pg_dump -Fc -Z0 -f f.dump
  (c) ours            manage.py backup database --inline   (zstd, SHA-256, fsync, verification)
then restores, after one untimed and alternating which goes first: our artifact (``backup
restore``: two loaders, each decompressing one table's block into pg_restore) against stock
``pg_restore -j 2`` of (b)'s uncompressed dump.
Peak memory of our process is measured by the kernel (wait4's ru_maxrss).
Goals: c ≤ 1.5×b, c ≤ 0.5×a, size c ≤ size a, memory < 200 MB, restore ≤ 1.2×.

Needs PostgreSQL (BENCH_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/postgres), pgbench,
pg_dump, pg_restore and gzip. Creates and drops its own databases.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent
APPS = ["pitchey_incidents", "backups", "incidents", "recovery"]
BASE = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def with_db(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def admin(sql: str) -> None:
    with psycopg.connect(BASE, autocommit=True) as conn:
        conn.execute(sql)


def build(url: str, *, scale: int, text_mb: int) -> int:
    subprocess.run(["pgbench", "-i", "-q", "-s", str(scale), url], check=True, capture_output=True)
    rows = text_mb * 1024  # about 1 KiB of hex text per row
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE app_documents (id bigserial PRIMARY KEY, title text, body text)")
        conn.execute(
            "INSERT INTO app_documents (title, body) SELECT 'doc ' || g, "
            "(SELECT string_agg(md5(g::text || k::text || random()::text), '') FROM generate_series(1, 32) k) "
            "FROM generate_series(1, %s) g",
            [rows],
        )
        conn.execute("VACUUM ANALYZE")
        return conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]


def timed(argv, *, env=None, shell=False) -> tuple[float, int]:
    """Run; return (seconds, peak RSS in bytes of the process itself) — or fail loudly. The files
    the previous run left unsynced (pg_dump does not fsync) are written out first, so that no run
    pays for another's writeback."""
    os.sync()
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, env=env, shell=shell, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.monotonic() - t0
    out, err = proc.stdout.read(), proc.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv if not shell else argv[:80]} failed:\n{out.decode()[-2000:]}\n{err.decode()[-2000:]}")
    return elapsed, usage.ru_maxrss * 1024


def newest_backup(env: dict) -> dict:
    listing = subprocess.run(
        [sys.executable, "manage.py", "backup", "list", "--json"], cwd=ROOT, env=env, capture_output=True, check=True
    )
    return json.loads(listing.stdout)[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="about 40 MB instead of about 1 GB")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scale", type=int, help="pgbench scale (default 35; --quick 2)")
    parser.add_argument("--text-mb", type=int, help="MB of text rows (default 520; --quick 20)")
    args = parser.parse_args()
    scale, text_mb = (2, 20) if args.quick else (35, 520)
    scale, text_mb = args.scale or scale, args.text_mb or text_mb

    suffix = secrets.token_hex(3)
    src_name, work = f"bench_src_{suffix}", Path(tempfile.mkdtemp(prefix="backup-bench-"))
    src = with_db(BASE, src_name)
    admin(f"CREATE DATABASE {src_name}")
    created = [src_name]
    try:
        size = build(src, scale=scale, text_mb=text_mb)
        print(f"database: {size / 1e6:.0f} MB (pgbench scale {scale} + {text_mb} MB of text)")
        catalog = work / "catalog.sqlite3"
        env = dict(os.environ)
        env.update(
            DATABASE_URL=f"sqlite:///{catalog}",
            TARGET_DATABASE_URL=src,
            BACKUP_DIR=str(work / "ours"),
            VAR_DIR=str(work / "var"),
            DEBUG="1",
            CELERY_BROKER_URL="filesystem://",
            REDIS_URL="",
            LOG_LEVEL="WARNING",
            PITCHEY_ACTOR="bench",
        )
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        # Our commands start from compiled bytecode, as an installed deployment's do (pg_dump and
        # pg_restore are compiled too), also where PYTHONDONTWRITEBYTECODE keeps Python from caching it.
        subprocess.run([sys.executable, "-m", "compileall", "-q", *APPS], cwd=ROOT, check=True)

        times: dict[str, list[float]] = {"a": [], "b": [], "c": []}
        sizes: dict[str, int] = {}
        peak = 0
        for run in range(args.runs):
            t, _ = timed(f'pg_dump "{src}" | gzip > "{work}/a.sql.gz"', shell=True)
            times["a"].append(t)
            sizes["a"] = (work / "a.sql.gz").stat().st_size
            t, _ = timed(["pg_dump", "-Fc", "-Z0", "-f", str(work / "b.dump"), "-d", src])
            times["b"].append(t)
            sizes["b"] = (work / "b.dump").stat().st_size
            shutil.rmtree(work / "ours", ignore_errors=True)
            t, rss = timed([sys.executable, "manage.py", "backup", "database", "--inline"], env=env)
            times["c"].append(t)
            peak = max(peak, rss)
            sizes["c"] = sum(p.stat().st_size for p in (work / "ours" / "database").glob("*.zst"))
            phases = newest_backup(env)["progress"].get("timings", {})
            print(
                f"run {run + 1}: a {times['a'][-1]:.2f} s  b {times['b'][-1]:.2f} s  c {times['c'][-1]:.2f} s  "
                f"(c's phases: {', '.join(f'{k} {v}' for k, v in phases.items())})"
            )
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"median: (a) pg_dump | gzip {med['a']:.2f} s, {sizes['a'] / 1e6:.1f} MB")
        print(f"median: (b) pg_dump -Fc -Z0 {med['b']:.2f} s, {sizes['b'] / 1e6:.1f} MB")
        print(
            f"median: (c) backup database --inline {med['c']:.2f} s, {sizes['c'] / 1e6:.1f} MB, "
            f"peak memory {peak / 1e6:.0f} MB"
        )

        backup_id = str(newest_backup(env)["id"])
        restore_times: dict[str, list[float]] = {"ours": [], "stock": []}

        def restore(which: str, label: str) -> float:
            name = f"bench_restore_{which}_{label}_{suffix}"
            admin(f"CREATE DATABASE {name}")
            created.append(name)
            dest = with_db(BASE, name)
            if which == "stock":
                t, _ = timed(["pg_restore", "-j", "2", "--no-owner", "-d", dest, str(work / "b.dump")])
            else:
                t, _ = timed(
                    [sys.executable, "manage.py", "backup", "restore", backup_id, "--database-url", dest], env=env
                )
            admin(f"DROP DATABASE {name} WITH (FORCE)")
            created.remove(name)
            return t

        # Untimed: the server's first load after a quiet spell creates its WAL files (later ones
        # recycle them), which would slow whichever restore came first.
        restore("stock", "warmup")
        for run in range(args.runs):
            for which in ("stock", "ours") if run % 2 == 0 else ("ours", "stock"):  # neither always first
                restore_times[which].append(restore(which, str(run)))
            stock, ours = restore_times["stock"][-1], restore_times["ours"][-1]
            print(f"restore run {run + 1}: stock {stock:.2f} s  ours {ours:.2f} s")
        rmed = {k: statistics.median(v) for k, v in restore_times.items()}
        print(f"median restore: ours {rmed['ours']:.2f} s, stock pg_restore -j 2 {rmed['stock']:.2f} s")
        print(
            f"ratios: c/b {med['c'] / med['b']:.2f} (goal ≤ 1.5)  c/a {med['c'] / med['a']:.2f} (goal ≤ 0.5)  "
            f"size c/a {sizes['c'] / sizes['a']:.2f} (goal ≤ 1.0)  restore ours/stock "
            f"{rmed['ours'] / rmed['stock']:.2f} (goal ≤ 1.2)  peak {peak / 1e6:.0f} MB (goal < 200)"
        )
    finally:
        for name in created:
            admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

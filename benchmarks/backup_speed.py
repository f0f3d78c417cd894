"""Backup speed: every goal of the backups as a ratio against a baseline measured in the same run.

A database of about 1 GB (``--scale 0.05``: about 50 MB, for a quick run) mixes pgbench tables
(compress ~50:1) with an application-like table of hex text (compresses ~2:1, at least half of the
size). Median of ``--runs`` (3) alternating runs of:
  (a) the runbook's   pg_dump "$URL" | gzip > f.sql.gz
  (b) pg_dump's limit pg_dump -Fc -Z0 -f f.dump
  (c) ours            manage.py backup database --inline   (zstd, SHA-256, fsync, verification)
then restores, after one untimed and alternating which goes first: our artifact (``backup
restore``: two loaders, each decompressing one table's block into pg_restore) against stock
``pg_restore -j 2`` of (b)'s uncompressed dump.
Peak memory of our process is measured by the kernel (wait4's ru_maxrss).
Fixed cost: the same three steps on a small database (pgbench scale 1, about 20 MB), five runs:
our backup minus ``pg_dump -Fc -Z0``, our restore minus stock ``pg_restore -j 2``.
Then the point-in-time figures (``benchmarks/pitr_speed.py``, a cluster of its own). Before each part
is timed (after its database is built) the server checkpoints, the kernel writes back, and the run waits
(``--settle``, 90 s at most) for the load average to fall below 1: nothing is timed while the gigabyte
just written is still going to disk.

Goals: c ≤ 1.5×b, size c ≤ size a, memory < 200 MB, restore ≤ 1.2× stock, fixed cost of a small
backup and of a small restore ≤ 1 s over the stock tool; WAL lag p95 < 5 s under ``pgbench -T 60``,
point-in-time restore ≤ 1.3× a hand-typed one.

Needs PostgreSQL (BENCH_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/postgres), pgbench,
pg_dump, pg_restore and gzip; for PITR initdb, pg_ctl, pg_basebackup, pg_receivewal. Creates and
drops its own databases, cluster and folders. The machine's load average is printed before and after
each part: the ratios are only as good as the quiet they were measured in.
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

import pitr_speed
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
APPS = ["pitchey_incidents", "backups", "incidents", "recovery"]
BASE = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
FULL_PGBENCH_SCALE, FULL_TEXT_MB = 35, 520  # about 1.2 GB on disk
GOALS: list[tuple[str, float, str, bool]] = []  # (name, measured, goal in words, met)


def goal(name: str, measured: float, limit: float, *, below: bool = False, unit: str = "") -> None:
    met = measured < limit if below else measured <= limit
    GOALS.append((name, measured, f"{'<' if below else '≤'} {limit:g}{unit}", met))


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def settle(deadline_s: float) -> None:
    """Before a part: the server checkpoints, the kernel writes back what the last part left dirty,
    then up to ``deadline_s`` for the 1-minute load average to fall below 1, so one part's
    write-back and autovacuum are not timed in the next."""
    if deadline_s <= 0:
        return
    started = time.monotonic()
    admin("CHECKPOINT")
    os.sync()
    while os.getloadavg()[0] >= 1.0 and time.monotonic() - started < deadline_s:
        time.sleep(1)
    print(f"  settled in {time.monotonic() - started:.0f} s; {load()}", flush=True)


def with_db(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def admin(sql: str) -> None:
    with psycopg.connect(BASE, autocommit=True) as conn:
        conn.execute(sql)


def build(url: str, *, scale: int, text_mb: int) -> int:
    subprocess.run(["pgbench", "-i", "-q", "-s", str(scale), url], check=True, capture_output=True)
    rows = text_mb * 1024  # about 1 KiB of hex text per row
    with psycopg.connect(url, autocommit=True) as conn:
        if rows:
            conn.execute("CREATE TABLE app_documents (id bigserial PRIMARY KEY, title text, body text)")
            conn.execute(
                "INSERT INTO app_documents (title, body) SELECT 'doc ' || g, "
                "(SELECT string_agg(md5(g::text || k::text || random()::text), '') "
                "FROM generate_series(1, 32) k) FROM generate_series(1, %s) g",
                [rows],
            )
        conn.execute("VACUUM ANALYZE")
        return conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]


def timed(argv, *, env=None, shell=False) -> float:
    """Run; return its seconds — or fail loudly. The files the previous run left unsynced (pg_dump
    does not fsync) are written out first, so that no run pays for another's writeback."""
    os.sync()
    t0 = time.monotonic()
    done = subprocess.run(argv, env=env, shell=shell, cwd=ROOT, capture_output=True)
    elapsed = time.monotonic() - t0
    if done.returncode != 0:
        shown = argv if not shell else argv[:80]
        raise SystemExit(f"{shown} failed:\n{done.stdout.decode()[-2000:]}\n{done.stderr.decode()[-2000:]}")
    return elapsed


def timed_rss(argv, *, env=None) -> tuple[float, int]:
    """``timed`` for our own process, with its peak memory as the kernel counts it."""
    os.sync()
    t0 = time.monotonic()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=out, stderr=out)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.monotonic() - t0
        if os.waitstatus_to_exitcode(status) != 0:
            out.seek(0)
            raise SystemExit(f"{argv} failed:\n{out.read().decode()[-3000:]}")
    return elapsed, usage.ru_maxrss * 1024


class Catalog:
    """Our commands, on a catalog and backup folder of their own, backing up ``target``."""

    def __init__(self, work: Path, target: str):
        self.work = work
        self.env = dict(os.environ)
        self.env.update(
            DATABASE_URL=f"sqlite:///{work / 'catalog.sqlite3'}",
            TARGET_DATABASE_URL=target,
            BACKUP_DIR=str(work / "ours"),
            VAR_DIR=str(work / "var"),
            DEBUG="1",
            CELERY_BROKER_URL="filesystem://",
            REDIS_URL="",
            LOG_LEVEL="WARNING",
            PITCHEY_ACTOR="bench",
            PITR_AUTO="0",
        )
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=self.env, check=True)

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "manage.py", *args]

    def newest(self) -> dict:
        listing = subprocess.run(self.argv("backup", "list", "--json"), cwd=ROOT, env=self.env, capture_output=True)
        return json.loads(listing.stdout)[0]

    def stored_size(self) -> int:
        return sum(p.stat().st_size for p in (self.work / "ours" / "database").glob("*.zst"))


def dumps(src: str, work: Path, ours: Catalog, runs: int, label: str) -> dict:
    """(a), (b) and (c), alternating; medians, sizes and our peak memory."""
    times: dict[str, list[float]] = {"a": [], "b": [], "c": []}
    sizes: dict[str, int] = {}
    peak = 0
    for run in range(runs):
        if label == "large":  # the runbook's pipe takes minutes at 1 GB; the small part does not need it
            times["a"].append(timed(f'pg_dump "{src}" | gzip > "{work}/a.sql.gz"', shell=True))
            sizes["a"] = (work / "a.sql.gz").stat().st_size
        times["b"].append(timed(["pg_dump", "-Fc", "-Z0", "-f", str(work / "b.dump"), "-d", src]))
        sizes["b"] = (work / "b.dump").stat().st_size
        shutil.rmtree(work / "ours", ignore_errors=True)
        t, rss = timed_rss(ours.argv("backup", "database", "--inline"), env=ours.env)
        times["c"].append(t)
        peak = max(peak, rss)
        sizes["c"] = ours.stored_size()
        phases = ours.newest()["progress"].get("timings", {})
        shown = "  ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items() if v)
        print(f"  {label} run {run + 1}: {shown}  (c's phases: {', '.join(f'{k} {v}' for k, v in phases.items())})")
    return {"median": {k: statistics.median(v) for k, v in times.items() if v}, "sizes": sizes, "peak": peak}


def restores(work: Path, ours: Catalog, suffix: str, runs: int, label: str) -> dict[str, float]:
    """Our restore of the newest backup against stock ``pg_restore -j 2`` of (b), alternating."""
    backup_id = str(ours.newest()["id"])
    times: dict[str, list[float]] = {"ours": [], "stock": []}

    def restore(which: str, run: str) -> float:
        name = f"bench_restore_{which}_{run}_{suffix}"
        admin(f"CREATE DATABASE {name}")
        dest = with_db(BASE, name)
        try:
            if which == "stock":
                return timed(["pg_restore", "-j", "2", "--no-owner", "-d", dest, str(work / "b.dump")])
            return timed(ours.argv("backup", "restore", backup_id, "--database-url", dest), env=ours.env)
        finally:
            admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    # Untimed: the server's first load after a quiet spell creates its WAL files (later ones
    # recycle them), which would slow whichever restore came first.
    restore("stock", "warmup")
    for run in range(runs):
        for which in ("stock", "ours") if run % 2 == 0 else ("ours", "stock"):  # neither always first
            times[which].append(restore(which, str(run)))
        print(f"  {label} restore run {run + 1}: stock {times['stock'][-1]:.2f} s  ours {times['ours'][-1]:.2f} s")
    return {k: statistics.median(v) for k, v in times.items()}


def large(args, suffix: str) -> None:
    scale = max(1, round(FULL_PGBENCH_SCALE * args.scale))
    text_mb = round(FULL_TEXT_MB * args.scale)
    src_name, work = f"bench_src_{suffix}", Path(tempfile.mkdtemp(prefix="backup-bench-"))
    admin(f"CREATE DATABASE {src_name}")
    try:
        src = with_db(BASE, src_name)
        size = build(src, scale=scale, text_mb=text_mb)
        settle(args.settle)
        print(f"large: {size / 1e6:.0f} MB (pgbench scale {scale} + {text_mb} MB of text); {load()}")
        ours = Catalog(work, src)
        got = dumps(src, work, ours, args.runs, "large")
        med, sizes, peak = got["median"], got["sizes"], got["peak"]
        print(f"  median: (a) pg_dump | gzip {med['a']:.2f} s, {sizes['a'] / 1e6:.1f} MB")
        print(f"  median: (b) pg_dump -Fc -Z0 {med['b']:.2f} s, {sizes['b'] / 1e6:.1f} MB")
        print(f"  median: (c) ours {med['c']:.2f} s, {sizes['c'] / 1e6:.1f} MB, peak memory {peak / 1e6:.0f} MB")
        rmed = restores(work, ours, suffix, args.runs, "large")
        print(f"  median restore: ours {rmed['ours']:.2f} s, stock pg_restore -j 2 {rmed['stock']:.2f} s; {load()}")
        goal("backup / pg_dump -Fc -Z0", med["c"] / med["b"], 1.5)
        goal("size / pg_dump | gzip", sizes["c"] / sizes["a"], 1.0)
        goal("peak memory of our backup", peak / 1e6, 200, below=True, unit=" MB")
        goal("restore / pg_restore -j 2", rmed["ours"] / rmed["stock"], 1.2)
    finally:
        admin(f"DROP DATABASE IF EXISTS {src_name} WITH (FORCE)")
        shutil.rmtree(work, ignore_errors=True)


def small(args, suffix: str) -> None:
    """The fixed cost: what a backup and a restore of a small database cost over the stock tools."""
    src_name, work = f"bench_small_{suffix}", Path(tempfile.mkdtemp(prefix="backup-bench-small-"))
    admin(f"CREATE DATABASE {src_name}")
    try:
        src = with_db(BASE, src_name)
        size = build(src, scale=1, text_mb=0)
        settle(args.settle)
        print(f"small: {size / 1e6:.0f} MB (pgbench scale 1); {load()}")
        ours = Catalog(work, src)
        med = dumps(src, work, ours, args.small_runs, "small")["median"]
        rmed = restores(work, ours, suffix, args.small_runs, "small")
        print(
            f"  median: backup ours {med['c']:.2f} s, pg_dump -Fc -Z0 {med['b']:.2f} s; restore ours "
            f"{rmed['ours']:.2f} s, pg_restore -j 2 {rmed['stock']:.2f} s; {load()}"
        )
        goal("fixed cost of a small backup", med["c"] - med["b"], 1.0, unit=" s")
        goal("fixed cost of a small restore", rmed["ours"] - rmed["stock"], 1.0, unit=" s")
    finally:
        admin(f"DROP DATABASE IF EXISTS {src_name} WITH (FORCE)")
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="size against the 1 GB database (0.05: ~50 MB)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--small-runs", type=int, default=5)
    parser.add_argument("--parts", default="large,small,pitr", help="which parts to run (default all)")
    parser.add_argument("--pitr-seconds", type=int, default=60, help="pgbench -T of the WAL lag part")
    parser.add_argument(
        "--settle", type=float, default=90, help="at most this long between parts for a quiet machine (0: no wait)"
    )
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    suffix = secrets.token_hex(3)
    # Our commands start from compiled bytecode, as an installed deployment's do (pg_dump and
    # pg_restore are compiled too), also where PYTHONDONTWRITEBYTECODE keeps Python from caching it.
    subprocess.run([sys.executable, "-m", "compileall", "-q", *APPS], cwd=ROOT, check=True)
    print(f"{os.cpu_count()} cores; {load()}; scale {args.scale:g}", flush=True)
    if "large" in parts:
        large(args, suffix)
    if "small" in parts:
        small(args, suffix)
    if "pitr" in parts:
        if parts & {"large", "small"}:
            settle(args.settle)
        pitr_speed.run_all(scale=args.scale, seconds=args.pitr_seconds, runs=args.runs, goal=goal, load=load)
    print(f"\ngoals (scale {args.scale:g}; {load()}):")
    for name, measured, limit, met in GOALS:
        print(f"  {'met ' if met else 'MISS'}  {name:34} {measured:8.2f}  (goal {limit})")


if __name__ == "__main__":
    main()

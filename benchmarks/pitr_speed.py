"""Point-in-time recovery speed: WAL archiving under load, and a restore to a moment against the
same restore typed by hand with the stock tools.

A PostgreSQL cluster of its own (``initdb`` into a temporary folder, a free port, ``wal_level =
replica``, a replication role) holds a pgbench database of about 1 GB (``--scale 0.05``: ~50 MB).
Our WAL receiver (``manage.py wal_receiver``, its default 1 s check) streams it and takes the first
base backup; then ``pgbench -T 60 -c 2 -j 2`` writes while the slot is sampled every 0.25 s:
  - received lag: how old the newest WAL the slot has confirmed is (the time since the server had
    written no more than that; an upper bound, to the sampling interval);
  - the RPO panel's lag: now minus the stream's ``synced_at`` in our catalog;
  - shipping: each segment's time from the moment the server finished it to its copy being stored.
Goals: both lags' p95 < 5 s.

Restore: to a moment 10 s before pgbench ended, median of ``--runs`` alternating runs of
  (h) by hand: ``tar -xf base.tar``, ``tar -xf pg_wal.tar``, ``restore_command = 'cp …'``,
      ``recovery_target_time``, ``recovery.signal``, ``pg_ctl start``, until promoted; from a stock
      ``pg_basebackup -Ft -X stream`` taken beside our base backup and the WAL segments uncompressed
  (o) ours: ``manage.py backup restore --to-time T`` (checksums, decompression, WAL fetched during replay)
Goal: o ≤ 1.3×h.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
FULL_PGBENCH_SCALE = 68  # about 1 GB
SEGMENT = 16 << 20
SLOT = "bench_pitr"


def pg_bin(name: str) -> str:
    return sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))[-1] if not shutil.which(name) else name


def as_pg(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def run(argv: list[str], **kw) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, **kw)
    if done.returncode != 0:
        raise SystemExit(f"{argv} failed: {done.stderr[-2000:] or done.stdout[-2000:]}")
    return done


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chown(path: Path) -> None:
    if os.geteuid() == 0:
        run(["chown", "-R", "postgres:postgres", str(path)])


def lsn(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def segment_of(position: int, timeline: int = 1) -> str:
    number = position // SEGMENT
    return f"{timeline:08X}{number // 256:08X}{number % 256:08X}"


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


class Cluster:
    def __init__(self, root: Path):
        self.root, self.port = root, free_port()
        self.datadir = root / "source"

    def url(self, user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/postgres"

    def start(self) -> Cluster:
        run(as_pg([pg_bin("initdb"), "-D", str(self.datadir), "-A", "trust", "-U", "postgres", "--no-sync"]))
        conf = (
            f"port = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
            "wal_level = replica\nmax_wal_senders = 10\nmax_replication_slots = 10\nmax_wal_size = 2GB\n"
        )
        with open(self.datadir / "postgresql.conf", "a") as fh:
            fh.write(conf)
        run(
            as_pg([pg_bin("pg_ctl"), "start", "-w", "-t", "120", "-D", str(self.datadir), "-l", str(self.root / "log")])
        )
        self.sql("CREATE ROLE replicator LOGIN REPLICATION")
        return self

    def sql(self, query: str, params=None):
        with psycopg.connect(self.url(), autocommit=True) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else None

    def stop(self) -> None:
        subprocess.run(
            as_pg([pg_bin("pg_ctl"), "stop", "-m", "immediate", "-D", str(self.datadir)]), capture_output=True
        )


class Ours:
    """Our catalog (SQLite), backup folder and WAL receiver, for the cluster."""

    def __init__(self, work: Path, cluster: Cluster):
        self.work, self.catalog = work, work / "catalog.sqlite3"
        self.env = dict(os.environ) | {
            "DATABASE_URL": f"sqlite:///{self.catalog}",
            "BACKUP_DIR": str(work / "ours"),
            "VAR_DIR": str(work / "var"),
            "DEBUG": "1",
            "CELERY_BROKER_URL": "filesystem://",
            "REDIS_URL": "",
            "LOG_LEVEL": "WARNING",
            "PITCHEY_ACTOR": "bench",
            "PITR_DATABASE_URL": cluster.url("replicator"),
            "PITR_SLOT": SLOT,
            "PITR_SPOOL_DIR": str(work / "spool"),
            "PITR_RESTORE_DIR": str(cluster.root / "restores"),
        }
        run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=self.env)
        self.receiver: subprocess.Popen | None = None

    def start_receiver(self) -> None:
        log = open(self.work / "receiver.log", "wb")  # noqa: SIM115 - open for the receiver's life
        argv = [sys.executable, "manage.py", "wal_receiver"]
        self.receiver = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log, stderr=log)

    def stop_receiver(self) -> None:
        if self.receiver and self.receiver.poll() is None:
            self.receiver.send_signal(signal.SIGTERM)
            self.receiver.wait(timeout=120)

    def query(self, sql: str, params=()) -> list:
        with sqlite3.connect(f"file:{self.catalog}?mode=ro", uri=True, timeout=10) as conn:
            return conn.execute(sql, params).fetchall()

    def base_backup(self) -> tuple | None:
        rows = self.query(
            "SELECT started_at, finished_at FROM backups_backup WHERE kind='basebackup' AND status='succeeded'"
        )
        return rows[0] if rows else None

    def shipped(self) -> dict[str, datetime]:
        rows = self.query(
            "SELECT json_extract(manifest, '$.wal.segment'), finished_at FROM backups_backup "
            "WHERE kind='wal' AND status='succeeded'"
        )
        return {name: _utc(at) for name, at in rows}

    def synced_at(self) -> datetime | None:
        rows = self.query("SELECT synced_at FROM backups_walstream WHERE slot=?", (SLOT,))
        return _utc(rows[0][0]) if rows and rows[0][0] else None


def _utc(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def wait(condition, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(interval)
    return found


class Sampler(threading.Thread):
    """Every 0.25 s: the server's clock, its WAL position, the slot's confirmed position; and the
    RPO panel's age of the stream (now minus ``synced_at``)."""

    def __init__(self, cluster: Cluster, ours: Ours):
        super().__init__(daemon=True)
        self.cluster, self.ours = cluster, ours
        self.samples: list[tuple[float, int, int]] = []  # (epoch s, current LSN, slot's LSN)
        self.panel: list[float] = []
        self.halt = threading.Event()

    def run(self) -> None:
        query = (
            "SELECT extract(epoch FROM clock_timestamp())::float8, pg_current_wal_lsn()::text, "
            "(SELECT restart_lsn::text FROM pg_replication_slots WHERE slot_name = %s)"
        )
        with psycopg.connect(self.cluster.url(), autocommit=True) as conn:
            while not self.halt.wait(0.25):
                at, current, slot = conn.execute(query, (SLOT,)).fetchone()
                self.samples.append((at, lsn(current), lsn(slot) if slot else 0))
                synced = self.ours.synced_at()
                if synced:
                    self.panel.append(time.time() - synced.timestamp())

    def received_lags(self) -> list[float]:
        """For each sample: the time since the last sample at which the server had written less
        than the slot now holds (the slot's WAL was written after it)."""
        lags = []
        for i, (at, _current, slot) in enumerate(self.samples):
            before = [t for t, cur, _ in self.samples[: i + 1] if cur < slot]
            lags.append(at - before[-1] if before else 0.0)
        return lags

    def finished(self, segment: str) -> float | None:
        """The last sample before the server's WAL position passed the end of ``segment`` (it was
        finished after it); None for one finished before sampling began."""
        end = (int(segment[8:16], 16) * 256 + int(segment[16:], 16) + 1) * SEGMENT
        before = [t for t, cur, _ in self.samples if cur < end]
        return before[-1] if before else None


def build(cluster: Cluster, scale: float) -> int:
    pgbench_scale = max(1, round(FULL_PGBENCH_SCALE * scale))
    run(["pgbench", "-i", "-q", "-s", str(pgbench_scale), cluster.url()])
    return cluster.sql("SELECT pg_database_size('postgres')")[0][0]


def archiving(cluster: Cluster, ours: Ours, seconds: int) -> tuple[str, dict]:
    """pgbench while our receiver streams; returns the restore target (10 s before the end) and figures."""
    sampler = Sampler(cluster, ours)
    sampler.start()
    bench = subprocess.Popen(
        ["pgbench", "-T", str(seconds), "-c", "2", "-j", "2", cluster.url()],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    time.sleep(max(1, seconds - 10))
    target = cluster.sql("SELECT clock_timestamp()")[0][0].isoformat()
    out, _ = bench.communicate()
    ended = time.time()
    cluster.sql("SELECT pg_switch_wal()")
    last = segment_of(lsn(cluster.sql("SELECT pg_current_wal_lsn()::text")[0][0]) - 1)
    wait(lambda: last in ours.shipped(), 300, f"segment {last} shipped", 0.25)
    drained = time.time() - ended
    sampler.halt.set()
    sampler.join()
    ship_lags = []
    for name, at in ours.shipped().items():
        done = sampler.finished(name)
        if done is not None:
            ship_lags.append(at.timestamp() - done)
    tps = next((line for line in out.splitlines() if line.startswith("tps")), "tps ?")
    return target, {
        "received": sampler.received_lags(),
        "panel": sampler.panel,
        "ship": ship_lags,
        "drained": drained,
        "tps": tps,
        "wal_mb": (sampler.samples[-1][1] - sampler.samples[0][1]) / 1e6 if sampler.samples else 0,
    }


def by_hand(root: Path, target: str, run_id: str) -> tuple[float, str]:
    """The stock restore, as typed: untar the base backup, point restore_command at the WAL, start.
    The time, and how long the untar took."""
    datadir, port = root / f"hand-{run_id}", free_port()
    untar = (
        f"set -e; mkdir -m 700 {datadir}; tar -xf {root}/hand/base.tar -C {datadir}; "
        f"tar -xf {root}/hand/pg_wal.tar -C {datadir}/pg_wal; "
        f"printf \"port = {port}\\nrestore_command = 'cp {root}/handwal/%%f %%p'\\n"
        f"recovery_target_time = '{target}'\\nrecovery_target_action = 'promote'\\n\" "
        f">> {datadir}/postgresql.auto.conf; "
        f"touch {datadir}/recovery.signal"
    )
    start = f"{pg_bin('pg_ctl')} start -D {datadir} -l {root}/hand-{run_id}.log -w -t 3600 >/dev/null"
    os.sync()
    t0 = time.monotonic()
    run(as_pg(["sh", "-c", untar]))
    untarred = time.monotonic() - t0
    run(as_pg(["sh", "-c", start]))
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    with psycopg.connect(url, autocommit=True) as conn:
        while conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
            time.sleep(0.1)
    took = time.monotonic() - t0
    subprocess.run(as_pg([pg_bin("pg_ctl"), "stop", "-m", "immediate", "-D", str(datadir)]), capture_output=True)
    shutil.rmtree(datadir, ignore_errors=True)
    return took, f"untar {untarred:.2f} s"


def ours_restore(ours: Ours, root: Path, target: str, run_id: str) -> tuple[float, str]:
    """Our restore's time, and its phases: start-up (the command's time less the restore's own),
    the checks before it, the base backup laid out, replay until promoted."""
    datadir = root / "restores" / f"ours-{run_id}"
    os.sync()
    t0 = time.monotonic()
    argv = [sys.executable, "manage.py", "backup", "restore", "--to-time", target, "--data-dir", str(datadir), "--json"]
    result = json.loads(run(argv, cwd=ROOT, env=ours.env).stdout)
    took = time.monotonic() - t0
    if not result.get("complete"):
        raise SystemExit(f"our restore did not complete: {result}")
    subprocess.run(as_pg([pg_bin("pg_ctl"), "stop", "-m", "immediate", "-D", str(datadir)]), capture_output=True)
    shutil.rmtree(datadir, ignore_errors=True)
    phases = {"start-up": took - result["duration_s"]} | result.get("phases_s", {})
    return took, ", ".join(f"{name} {s:.2f} s" for name, s in phases.items())


def prepare_by_hand(root: Path, cluster: Cluster, ours: Ours) -> None:
    """Untimed: the WAL our receiver shipped, uncompressed into a folder as an archive would hold it."""
    waldir = root / "handwal"
    waldir.mkdir()
    for path in (ours.work / "ours" / "wal").glob("*.zst"):
        segment = next(s for s in path.name.split(".") if len(s) == 24)
        run(["zstd", "-q", "-d", str(path), "-o", str(waldir / segment)])
    chown(waldir)


def restores(root: Path, ours: Ours, target: str, runs: int) -> dict[str, float]:
    times: dict[str, list[float]] = {"hand": [], "ours": []}
    phases: dict[str, str] = {}
    for n in range(runs):
        for which in ("hand", "ours") if n % 2 == 0 else ("ours", "hand"):
            restore = by_hand if which == "hand" else lambda *a: ours_restore(ours, *a)
            took, phases[which] = restore(root, target, str(n))
            times[which].append(took)
        print(
            f"  pitr restore run {n + 1}: by hand {times['hand'][-1]:.2f} s ({phases['hand']})  "
            f"ours {times['ours'][-1]:.2f} s ({phases['ours']})",
            flush=True,
        )
    return {k: statistics.median(v) for k, v in times.items()}


def run_all(*, scale: float, seconds: int, runs: int, goal, load) -> None:  # noqa: PLR0915 - one story
    root = Path(tempfile.mkdtemp(prefix="pitr-bench-", dir="/tmp"))
    root.chmod(0o755)
    work = Path(tempfile.mkdtemp(prefix="pitr-bench-work-"))
    chown(root)
    cluster = Cluster(root).start()
    ours = None
    try:
        size = build(cluster, scale)
        print(f"pitr: cluster of {size / 1e6:.0f} MB; {load()}", flush=True)
        ours = Ours(work, cluster)
        ours.start_receiver()
        started, finished = wait(ours.base_backup, 1800, "the first base backup")
        print(f"  our first base backup took {(_utc(finished) - _utc(started)).total_seconds():.1f} s")
        (root / "hand").mkdir()
        chown(root / "hand")
        run(as_pg([pg_bin("pg_basebackup"), "-d", cluster.url(), "-D", str(root / "hand"), "-Ft", "-X", "stream"]))
        target, figures = archiving(cluster, ours, seconds)
        received, panel, ship = figures["received"], figures["panel"], figures["ship"]
        print(
            f"  pgbench -T {seconds} -c 2: {figures['tps']}; {figures['wal_mb']:.0f} MB of WAL; {load()}\n"
            f"  received lag p50 {statistics.median(received):.2f} s, p95 {p95(received):.2f} s, "
            f"max {max(received):.2f} s\n"
            f"  RPO panel lag p50 {statistics.median(panel):.2f} s, p95 {p95(panel):.2f} s, max {max(panel):.2f} s\n"
            f"  segment shipped after the server finished it: p50 {statistics.median(ship):.2f} s, "
            f"p95 {p95(ship):.2f} s ({len(ship)} segments); all shipped {figures['drained']:.1f} s after pgbench"
        )
        goal("WAL received lag p95 (pgbench)", p95(received), 5, below=True, unit=" s")
        goal("RPO panel lag p95 (pgbench)", p95(panel), 5, below=True, unit=" s")
        ours.stop_receiver()
        prepare_by_hand(root, cluster, ours)
        med = restores(root, ours, target, runs)
        print(f"  median pitr restore: ours {med['ours']:.2f} s, by hand {med['hand']:.2f} s; {load()}")
        goal("PITR restore / by hand", med["ours"] / med["hand"], 1.3)
    finally:
        if ours:
            ours.stop_receiver()
        for pid_file in root.glob("*/postmaster.pid"):
            subprocess.run(
                as_pg([pg_bin("pg_ctl"), "stop", "-m", "immediate", "-D", str(pid_file.parent)]), capture_output=True
            )
        for pid_file in root.glob("restores/*/postmaster.pid"):
            subprocess.run(
                as_pg([pg_bin("pg_ctl"), "stop", "-m", "immediate", "-D", str(pid_file.parent)]), capture_output=True
            )
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="size against the 1 GB cluster (0.05: ~50 MB)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=60, help="pgbench -T")
    args = parser.parse_args()
    goals = []

    def goal(name, measured, limit, *, below=False, unit=""):
        goals.append((name, measured, limit, measured < limit if below else measured <= limit, unit, below))

    def load():
        return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())

    run_all(scale=args.scale, seconds=args.seconds, runs=args.runs, goal=goal, load=load)
    print(f"\ngoals (scale {args.scale:g}):")
    for name, measured, limit, met, unit, below in goals:
        print(
            f"  {'met ' if met else 'MISS'}  {name:34} {measured:8.2f}  (goal {'<' if below else '≤'} {limit:g}{unit})"
        )


if __name__ == "__main__":
    main()

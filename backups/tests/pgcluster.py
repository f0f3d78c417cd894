"""A real, throwaway PostgreSQL cluster for the point-in-time recovery tests: ``initdb`` into a
temporary folder, started on a free port with ``wal_level = replica`` and a replication role.
Run as the ``postgres`` OS user when the tests run as root (PostgreSQL refuses root). One cluster
serves a whole test process (``pitr_cluster``, registered in the root conftest: its own temporary
folder and port, so test processes running at once never share one); ``pitr_source`` (imported by
the conftests that use it) resets it before each test to the state a new one starts in. Helpers
around it."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from django.db import connection
from psycopg import sql

from backups.models import Backup, Kind, Status, WalStream
from backups.pitr.restore import stop_restored
from backups.pitr.server import as_server_user, give_to_server_user, pg_bin
from backups.pitr.stream import WalReceiver
from pitchey_incidents.ports import free_port
from pitchey_incidents.testing import ended, left_running, wait_for

CONF = """
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
fsync = off
shared_buffers = 16MB
log_min_messages = warning
"""


class Cluster:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="pitr-cluster-", dir="/tmp"))
        self.root.chmod(0o755)
        self.datadir = self.root / "source"
        self.port = free_port()

    def url(self, user: str = "postgres", db: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{db}"

    def _run(self, *argv: str) -> None:
        proc = subprocess.run(as_server_user(list(argv)), capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {proc.stderr or proc.stdout}")

    def start(self) -> Cluster:
        give_to_server_user(self.root)
        self._run(pg_bin("initdb"), "-D", str(self.datadir), "-A", "trust", "-U", "postgres", "--no-sync")
        with open(self.datadir / "postgresql.conf", "a") as fh:
            fh.write(CONF + f"port = {self.port}\n")
        self._run(pg_bin("pg_ctl"), "start", "-w", "-t", "60", "-D", str(self.datadir), "-l", str(self.root / "log"))
        left_running(self, self.stop)
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute("CREATE ROLE replicator LOGIN REPLICATION")
        return self

    def reset(self) -> Cluster:
        """Back to the state ``start`` left: no other session and no replication slot, every database
        but the templates dropped and ``postgres`` created again from ``template1``, every role but
        ``postgres`` dropped and ``replicator`` created again; no restored server or its folder."""
        _stop_restores(self.root / "restores")
        with psycopg.connect(self.url(db="template1"), autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE pid <> pg_backend_pid() AND backend_type IN ('client backend', 'walsender')"
            )
            for (slot,) in conn.execute("SELECT slot_name FROM pg_replication_slots").fetchall():
                wait_for(lambda s=slot: _dropped_slot(conn, s), timeout=30, message=f"slot {slot} dropped")
            for (name,) in conn.execute("SELECT datname FROM pg_database WHERE NOT datistemplate").fetchall():
                conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
            roles = conn.execute("SELECT rolname FROM pg_roles WHERE rolname !~ '^pg_' AND rolname <> 'postgres'")
            for (name,) in roles.fetchall():
                conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))
            conn.execute("CREATE DATABASE postgres")
            conn.execute("CREATE ROLE replicator LOGIN REPLICATION")
        return self

    def sql(self, query: str, params=None):
        with psycopg.connect(self.url(), autocommit=True) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else None

    def stop(self) -> None:
        _stop_restores(self.root / "restores")
        subprocess.run(
            as_server_user([pg_bin("pg_ctl"), "stop", "-m", "immediate", "-D", str(self.datadir)]),
            capture_output=True,
            stdin=subprocess.DEVNULL,
        )
        shutil.rmtree(self.root, ignore_errors=True)
        ended(self)


def _dropped_slot(conn, slot: str) -> bool:
    """Drop ``slot``, ending the walsender that holds it; False while it is still in use."""
    conn.execute("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = %s", (slot,))
    try:
        conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
    except psycopg.errors.ObjectInUse:
        return False
    return True


def _stop_restores(folder: Path) -> None:
    """Every server restored under ``folder`` stopped, and the folder removed."""
    for datadir in folder.glob("restore-*"):
        if not datadir.name.endswith("-wal"):
            stop_restored(datadir)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def pitr_cluster():
    """The test process's cluster, started on first use and stopped (its folder removed) at the end."""
    cluster = Cluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture
def pitr_source(pitr_cluster, settings, transactional_db, tmp_path):
    """The cluster as the PITR target, reset, with a ``ledger`` table; every restored server stopped after."""
    settings.BACKUP_DIR = tmp_path / "backups"
    settings.R2_BUCKET = settings.R2_ARCHIVE_BUCKET = ""
    cluster = pitr_cluster.reset()
    settings.PITR_DATABASE_URL = cluster.url("replicator")
    settings.PITR_SLOT = "pitr_test"
    settings.PITR_SPOOL_DIR = tmp_path / "spool"
    settings.PITR_RESTORE_DIR = cluster.root / "restores"
    settings.PITR_RESTORE_TIMEOUT_S = 120
    cluster.sql("CREATE TABLE ledger (id int PRIMARY KEY, note text)")
    yield cluster
    _stop_restores(cluster.root / "restores")


class Running:
    """The receiver loop in a thread, stopped (and its pg_receivewal with it) on exit."""

    def __init__(self) -> None:
        self.receiver = WalReceiver(check_interval=0.2)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.receiver.run(self.stop)
        finally:
            connection.close()

    def __enter__(self):
        self.thread.start()
        return self.receiver

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=60)


def base_backup_done() -> Backup | None:
    return Backup.objects.filter(kind=Kind.BASEBACKUP, status=Status.SUCCEEDED).order_by("-id").first()


def server_now(cluster: Cluster):
    return cluster.sql("SELECT clock_timestamp()")[0][0]


def write(cluster: Cluster, *ids: int) -> None:
    cluster.sql("INSERT INTO ledger SELECT g, 'row ' || g FROM unnest(%s::int[]) g", (list(ids),))


def after(cluster: Cluster, moment, seconds: float = 0.3) -> None:
    """Wait (with a deadline) until the server's clock has passed ``moment`` by ``seconds``."""
    wait_for(lambda: server_now(cluster) > moment + timedelta(seconds=seconds), timeout=10, interval=0.05)


def rows(url: str) -> list[int]:
    with psycopg.connect(url.replace("replicator@", "postgres@"), autocommit=True) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM ledger ORDER BY id")]


def shipped(cluster: Cluster) -> str:
    """Finish the current segment on the server, wait until the receiver has stored it; its name."""
    name = cluster.sql("SELECT pg_walfile_name(pg_current_wal_lsn())")[0][0]
    cluster.sql("SELECT pg_switch_wal()")
    wait_for(
        lambda: Backup.objects.filter(kind=Kind.WAL, status=Status.SUCCEEDED, manifest__wal__segment=name).exists(),
        timeout=60,
        message=f"segment {name} shipped",
    )
    return name


def last_status(cluster: Cluster):
    """When the server last heard from ``pg_receivewal`` where it stands (-infinity: not yet)."""
    query = "SELECT coalesce(max(reply_time), '-infinity') FROM pg_stat_replication WHERE application_name = %s"
    return cluster.sql(query, ("pg_receivewal",))[0][0]


def reports_every_second(cluster: Cluster) -> None:
    """Idle, the receiver still tells the server where it stands every second, not every 10 s: two
    status reports in a row, each within 2.5 s."""
    for _ in range(2):
        before = last_status(cluster)
        wait_for(lambda b=before: last_status(cluster) > b, timeout=2.5, message="the next status report")


def received(cluster: Cluster) -> None:
    """Wait until everything the server has written so far is received."""
    written = server_now(cluster)
    wait_for(lambda: (WalStream.objects.get(slot="pitr_test").synced_at or written) > written, timeout=30)

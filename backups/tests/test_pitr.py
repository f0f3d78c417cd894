"""Point-in-time recovery on real components: a second PostgreSQL cluster started here as the
protected server, the WAL receiver streaming from its slot with ``pg_receivewal``, base backups with
``pg_basebackup``, and restores started with stock ``postgres``."""

from __future__ import annotations

import threading
from datetime import timedelta

import psycopg
import pytest

from backups.models import Backup, Kind, Status, WalStream
from backups.pitr.restore import restore_to_time, stop_restored
from backups.pitr.stream import WalReceiver
from backups.restore import RestoreError
from pitchey_incidents.testing import wait_for

from .pgcluster import Cluster


@pytest.fixture
def source(settings, transactional_db, tmp_path):
    cluster = Cluster().start()
    settings.PITR_DATABASE_URL = cluster.url("replicator")
    settings.PITR_SLOT = "pitr_test"
    settings.PITR_SPOOL_DIR = tmp_path / "spool"
    settings.PITR_RESTORE_DIR = cluster.root / "restores"
    settings.PITR_RESTORE_TIMEOUT_S = 120
    cluster.sql("CREATE TABLE ledger (id int PRIMARY KEY, note text)")
    yield cluster
    for datadir in (cluster.root / "restores").glob("restore-*"):
        if not datadir.name.endswith("-wal"):
            stop_restored(datadir)
    cluster.stop()


class Running:
    """The receiver loop in a thread, stopped (and its pg_receivewal with it) on exit."""

    def __init__(self) -> None:
        self.receiver = WalReceiver(check_interval=0.2)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from django.db import connection

        try:
            self.receiver.run(self.stop)
        finally:
            connection.close()

    def __enter__(self) -> WalReceiver:
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


def shipped(cluster: Cluster) -> None:
    """Finish the current segment on the server and wait until the receiver has stored it."""
    name = cluster.sql("SELECT pg_walfile_name(pg_current_wal_lsn())")[0][0]
    cluster.sql("SELECT pg_switch_wal()")
    wait_for(
        lambda: Backup.objects.filter(kind=Kind.WAL, status=Status.SUCCEEDED, manifest__wal__segment=name).exists(),
        timeout=60,
        message=f"segment {name} shipped",
    )


@pytest.mark.postgres
def test_restore_to_a_second_between_two_writes_sees_exactly_the_rows_committed_before_it(source):
    with Running():
        base = wait_for(base_backup_done, timeout=120, message="the first base backup")
        write(source, 1, 2, 3)
        noted = server_now(source)
        after(source, noted)
        write(source, 4, 5)
        shipped(source)
        after(source, server_now(source))
        write(source, 6)  # only in the segment being received, not yet shipped
        written = server_now(source)
        wait_for(lambda: WalStream.objects.get(slot="pitr_test").synced_at > written, timeout=30)

    assert base.manifest["pitr"]["start_segment"]
    result = restore_to_time(to_time=noted)
    assert result["base_backup"] == base.id and result["complete"]
    assert rows(result["url"]) == [1, 2, 3]
    stop_restored(source.root / "restores" / result["datadir"])

    latest = restore_to_time(to_time=None)
    assert rows(latest["url"]) == [1, 2, 3, 4, 5, 6]
    assert latest["url"].startswith("postgresql://replicator@127.0.0.1:")


@pytest.mark.postgres
def test_a_time_before_every_base_backup_is_refused(source):
    with Running():
        base = wait_for(base_backup_done, timeout=120, message="the first base backup")
    with pytest.raises(RestoreError, match="no base backup finished before"):
        restore_to_time(to_time=base.snapshot_at - timedelta(minutes=5))

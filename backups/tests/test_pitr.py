"""Point-in-time recovery on real components: a second PostgreSQL cluster started here as the
protected server, the WAL receiver streaming from its slot with ``pg_receivewal``, base backups with
``pg_basebackup``, and restores started with stock ``postgres``."""

from __future__ import annotations

import io
import os
import re
import signal
import sys
import threading
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command

from backups.models import Backup, Kind, Status, WalStream
from backups.pitr.restore import restore_to_time, stop_restored
from backups.pitr.stream import WalReceiver
from backups.restore import RestoreError
from backups.selectors import rpo_status
from pitchey_incidents.testing import Proc, child_env, wait_for

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


@pytest.mark.postgres
def test_restore_to_a_second_between_two_writes_sees_exactly_the_rows_committed_before_it(source, api):
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

    [database] = [row for row in rpo_status() if row["data_type"] == "database"]
    assert database["pitr"]["enabled"] and database["pitr"]["base_backup_at"] == base.snapshot_at
    assert database["state"] == "ok" and database["age_s"] < 30  # seconds, not the hours since a dump

    assert base.manifest["pitr"]["start_segment"]
    out = io.StringIO()
    call_command("backup", "restore", "--to-time", noted.isoformat(), stdout=out)
    url = re.search(r"connect: (\S+)", out.getvalue()).group(1)
    assert rows(url) == [1, 2, 3]  # exactly the rows committed before the noted second
    datadir = re.search(r"data directory: (\S+)", out.getvalue()).group(1)
    call_command("backup", "restore", "--stop", "--data-dir", datadir, stdout=io.StringIO())
    stop_restored(Path(datadir))

    answer = api("commander").post("/api/v1/backups/pitr/restore/", {"to_time": "latest"}, format="json")
    assert answer.status_code == 200, answer.content
    latest = answer.json()
    assert latest["complete"] and latest["base_backup"] == base.id
    assert rows(latest["url"]) == [1, 2, 3, 4, 5, 6]
    assert latest["url"].startswith("postgresql://replicator@127.0.0.1:")


@pytest.mark.postgres
def test_a_time_before_every_base_backup_is_refused(source):
    with Running():
        base = wait_for(base_backup_done, timeout=120, message="the first base backup")
    with pytest.raises(RestoreError, match="no base backup finished before"):
        restore_to_time(to_time=base.snapshot_at - timedelta(minutes=5))


def received(cluster: Cluster) -> None:
    """Wait until everything the server has written so far is received."""
    written = server_now(cluster)
    wait_for(lambda: (WalStream.objects.get(slot="pitr_test").synced_at or written) > written, timeout=30)


def three_segments(cluster: Cluster) -> list[str]:
    """Rows 1, 2 and 3, each in a segment of its own, all shipped; the receiver stopped after."""
    with Running():
        wait_for(base_backup_done, timeout=120, message="the first base backup")
        names = []
        for n in (1, 2, 3):
            write(cluster, n)
            names.append(shipped(cluster))
        received(cluster)
    return names


def wal_copy(segment: str) -> Backup:
    return Backup.objects.get(kind=Kind.WAL, status=Status.SUCCEEDED, manifest__wal__segment=segment)


@pytest.mark.postgres
def test_a_missing_segment_stops_the_restore_at_the_last_consistent_point_and_names_it(source, settings):
    first, second, third = three_segments(source)
    lost = wal_copy(second)
    for path in (settings.BACKUP_DIR / "wal").glob(f"{lost.manifest['artifact'].split('.')[0]}.*"):
        path.unlink()
    lost.delete()  # as if it had never been shipped

    with pytest.raises(RestoreError) as refused:
        restore_to_time(to_time=server_now(source))
    assert f"WAL segment {second} is missing" in str(refused.value)
    assert f"the last consistent point is the end of {first}" in str(refused.value)
    assert not list((source.root / "restores").iterdir())  # nothing left running or on disk

    partial = restore_to_time(to_time=None)
    assert not partial["complete"] and partial["missing_segment"] == second
    assert f"segment {second} is missing" in partial["detail"]
    assert rows(partial["url"]) == [1]  # exactly what the WAL before the gap holds


@pytest.mark.postgres
def test_a_damaged_segment_is_named_and_never_replayed(source, settings):
    first, second, third = three_segments(source)
    stored = settings.BACKUP_DIR / "wal" / wal_copy(second).manifest["artifact"]
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF
    stored.write_bytes(bytes(data))

    with pytest.raises(RestoreError, match=f"WAL segment {second} is damaged in every copy"):
        restore_to_time(to_time=server_now(source))
    partial = restore_to_time(to_time=None)
    assert partial["missing_segment"] == second and rows(partial["url"]) == [1]


def receiver_process(settings, tmp_path) -> Proc:
    env = child_env(
        BACKUP_DIR=str(settings.BACKUP_DIR),
        PITR_DATABASE_URL=settings.PITR_DATABASE_URL,
        PITR_SLOT=settings.PITR_SLOT,
        PITR_SPOOL_DIR=str(settings.PITR_SPOOL_DIR),
        PITR_AUTO="0",
        R2_BUCKET="",
    )
    argv = [sys.executable, "manage.py", "wal_receiver", "--check-interval", "0.2"]
    return Proc(argv, env=env, log_path=tmp_path / "receiver.log", ready="WAL receiver: slot")


def slot_active(cluster: Cluster) -> bool:
    return cluster.sql("SELECT active FROM pg_replication_slots WHERE slot_name = 'pitr_test'")[0][0]


@pytest.mark.postgres
def test_a_receiver_killed_with_sigkill_resumes_from_the_slot_with_nothing_lost(source, settings, tmp_path):
    proc = receiver_process(settings, tmp_path)
    try:
        wait_for(base_backup_done, timeout=120, message="the first base backup")
        wait_for(lambda: slot_active(source), timeout=30, message="pg_receivewal streaming")
        for n in range(1, 51):
            write(source, n)
        os.kill(proc.popen.pid, signal.SIGKILL)  # the receiver only: its pg_receivewal must follow it
        proc.popen.wait(timeout=10)
        wait_for(lambda: not slot_active(source), timeout=30, message="pg_receivewal gone with its parent")
        write(source, *range(51, 101))  # while nobody receives: the slot keeps it on the server
        source.sql("SELECT pg_switch_wal()")
        write(source, *range(101, 111))
    finally:
        proc.stop()
    proc = receiver_process(settings, tmp_path)
    try:
        received(source)
    finally:
        proc.stop()
    assert Backup.objects.filter(kind=Kind.BASEBACKUP).count() == 1  # resumed: no new slot, no new base
    assert WalStream.objects.get(slot="pitr_test").gap_at is None
    latest = restore_to_time(to_time=None)
    assert latest["complete"] and rows(latest["url"]) == list(range(1, 111))


@pytest.mark.postgres
def test_a_slot_deleted_under_us_restarts_with_a_new_base_backup_and_says_there_is_a_gap(source):
    from backups.pitr.stream import _drop

    with Running():
        first = wait_for(base_backup_done, timeout=120, message="the first base backup")
        write(source, 1)
        received(source)
        with psycopg.connect(source.url(), autocommit=True) as conn:
            _drop(conn, "pitr_test")
        stream = wait_for(lambda: WalStream.objects.filter(slot="pitr_test", gap_at__isnull=False).first(), timeout=30)
        assert "replication slot pitr_test disappeared" in stream.gap_detail
        second = wait_for(
            lambda: Backup.objects.filter(kind=Kind.BASEBACKUP, status=Status.SUCCEEDED).exclude(id=first.id).first(),
            timeout=120,
            message="a new base backup after the gap",
        )
        assert second.created_at >= stream.gap_at
        write(source, 2)
        received(source)
    latest = restore_to_time(to_time=None)
    assert latest["base_backup"] == second.id and rows(latest["url"]) == [1, 2]


@pytest.mark.postgres
def test_a_slot_that_falls_behind_warns_then_is_dropped_with_an_incident(source, settings):
    from backups.pitr.stream import slot_guard
    from incidents import detection
    from incidents.models import Incident, Probe

    with Running():
        wait_for(base_backup_done, timeout=120, message="the first base backup")
        received(source)
    source.sql("INSERT INTO ledger SELECT g, repeat('x', 500) FROM generate_series(1000, 5999) g")
    behind = source.sql("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) FROM pg_replication_slots")[0][0]
    assert behind > 1_000_000  # nobody reads the slot: the server keeps the WAL

    probe = Probe.objects.get(name="database-backups")
    settings.PITR_SLOT_WARN_BYTES, settings.PITR_SLOT_MAX_BYTES = 1_000_000, 1 << 40
    guard = slot_guard()
    assert guard["warning"] and not guard["dropped"] and guard["lag_bytes"] >= behind
    report = detection.detection_run(probes=[probe])
    assert [i.rule for i in report.issues] == ["Replication slot keeps too much WAL"]
    assert report.checks[0].metrics["slot_over_warning"] == 1

    settings.PITR_SLOT_MAX_BYTES = 2_000_000
    assert slot_guard()["dropped"] is True
    assert source.sql("SELECT count(*) FROM pg_replication_slots")[0][0] == 0  # the server's disk is safe
    stream = WalStream.objects.get(slot="pitr_test")
    assert stream.state == "dropped" and "over PITR_SLOT_MAX_BYTES" in stream.gap_detail
    report = detection.detection_run(probes=[probe])
    assert "WAL lost: point-in-time recovery has a gap" in [i.rule for i in report.issues]
    assert "WAL gap: replication slot pitr_test dropped" in report.issues[0].detail
    incident = Incident.objects.get(title="WAL lost: point-in-time recovery has a gap (Database)")
    assert incident.severity == "P2" and incident.source == "probe"


@pytest.mark.postgres
def test_the_api_refuses_a_bad_time_and_a_time_it_cannot_reach(source, api):
    client = api("commander")
    assert client.get("/api/v1/backups/pitr/").json()["enabled"] is False
    bad = client.post("/api/v1/backups/pitr/restore/", {"to_time": "yesterday-ish"}, format="json")
    assert bad.status_code == 400 and "to_time" in bad.content.decode()
    none = client.post("/api/v1/backups/pitr/restore/", {"to_time": "2026-01-01T00:00:00Z"}, format="json")
    assert none.status_code == 409 and "no base backup finished before" in none.content.decode()
    assert api("viewer").post("/api/v1/backups/pitr/restore/", {"to_time": "latest"}, format="json").status_code == 403

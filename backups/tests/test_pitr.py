"""Point-in-time recovery on real components: a second PostgreSQL cluster started here as the
protected server, the WAL receiver streaming from its slot with ``pg_receivewal``, base backups with
``pg_basebackup``, and restores started with stock ``postgres``."""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import sys
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command

from backups import pipeline
from backups.models import Backup, Kind, Status, WalStream
from backups.pitr import restore as pitr_restore_module
from backups.pitr.restore import restore_to_time, stop_restored
from backups.pitr.slot import _drop
from backups.restore import RestoreError
from backups.selectors import rpo_status
from pitchey_incidents.errors import DomainError
from pitchey_incidents.ports import free_port
from pitchey_incidents.testing import Proc, child_env, wait_for

from .pgcluster import (
    Cluster,
    Running,
    after,
    base_backup_done,
    received,
    reports_every_second,
    rows,
    server_now,
    shipped,
    write,
)


@pytest.mark.postgres
def test_restore_to_a_second_between_two_writes_sees_exactly_the_rows_committed_before_it(
    pitr_source, api, client, users
):
    with Running():
        base = wait_for(base_backup_done, timeout=120, message="the first base backup")
        write(pitr_source, 1, 2, 3)
        noted = server_now(pitr_source)
        after(pitr_source, noted)
        write(pitr_source, 4, 5)
        shipped(pitr_source)
        after(pitr_source, server_now(pitr_source))
        write(pitr_source, 6)  # only in the segment being received, not yet shipped
        written = server_now(pitr_source)
        wait_for(lambda: WalStream.objects.get(slot="pitr_test").synced_at > written, timeout=30)

    [database] = [row for row in rpo_status() if row["data_type"] == "database"]
    assert database["pitr"]["enabled"] and database["pitr"]["base_backup_at"] == base.snapshot_at
    assert database["state"] == "ok" and database["age_s"] < 30  # seconds, not the hours since a dump
    client.force_login(users["viewer"])
    panel = re.search(r"WAL received (.+?) ago", client.get("/backups/").content.decode())
    assert panel and re.fullmatch(r"\d+ s", panel.group(1)), panel  # the RPO panel, in seconds

    assert base.manifest["pitr"]["start_segment"]
    out = io.StringIO()
    call_command("backup", "restore", "--to-time", noted.isoformat(), stdout=out)
    url = re.search(r"connect: (\S+)", out.getvalue()).group(1)
    assert rows(url) == [1, 2, 3]  # exactly the rows committed before the noted second
    datadir = re.search(r"data directory: (\S+)", out.getvalue()).group(1)
    log = (Path(datadir) / "restore.log").read_text()
    # Paused at the target, then promoted without waiting for the end-of-recovery checkpoint.
    assert log.index("pausing at the end of recovery") < log.index("received promote request")
    call_command("backup", "restore", "--stop", "--data-dir", datadir, stdout=io.StringIO())
    stop_restored(Path(datadir))

    answer = api("commander").post("/api/v1/backups/pitr/restore/", {"to_time": "latest"}, format="json")
    assert answer.status_code == 200, answer.content
    latest = answer.json()
    assert latest["complete"] and latest["base_backup"] == base.id
    assert rows(latest["url"]) == [1, 2, 3, 4, 5, 6]
    assert latest["url"].startswith("postgresql://replicator@127.0.0.1:")


@pytest.mark.postgres
def test_a_time_before_every_base_backup_and_a_port_in_use_are_refused_a_port_taken_meanwhile_is_left(
    pitr_source, monkeypatch
):
    with Running():
        base = wait_for(base_backup_done, timeout=120, message="the first base backup")
        write(pitr_source, 1)
        received(pitr_source)
    with pytest.raises(RestoreError, match="no base backup finished before"):
        restore_to_time(to_time=base.snapshot_at - timedelta(minutes=5))

    restores = pitr_source.root / "restores"
    with socket.socket() as taken:  # something else listens there
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        with pytest.raises(DomainError, match=f"port {busy} is in use") as refused:
            restore_to_time(to_time=None, port=busy)
        assert refused.value.field == "port"
        assert not restores.exists() or not any(restores.iterdir())  # refused before anything is written

        # Free when a port is picked, taken by the time the server starts: the server gets another.
        picks = iter([busy])
        monkeypatch.setattr(pitr_restore_module, "free_port", lambda: next(picks, None) or free_port())
        latest = restore_to_time(to_time=None)
    assert latest["complete"] and latest["port"] != busy and f":{latest['port']}/" in latest["url"]
    assert rows(latest["url"]) == [1]
    assert (
        "could not create any TCP/IP sockets"
        in (Path(latest["datadir"]) / f"restore-port-{busy}-taken.log").read_text()
    )
    stop_restored(Path(latest["datadir"]))


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
def test_a_missing_segment_stops_the_restore_at_the_last_consistent_point_and_names_it(pitr_source, settings):
    first, second, third = three_segments(pitr_source)
    lost = wal_copy(second)
    for path in (settings.BACKUP_DIR / "wal").glob(f"{lost.manifest['artifact'].split('.')[0]}.*"):
        path.unlink()
    lost.delete()  # as if it had never been shipped

    with pytest.raises(RestoreError) as refused:
        restore_to_time(to_time=server_now(pitr_source))
    assert f"WAL segment {second} is missing" in str(refused.value)
    assert f"the last consistent point is the end of {first}" in str(refused.value)
    assert not list((pitr_source.root / "restores").iterdir())  # nothing left running or on disk

    partial = restore_to_time(to_time=None)
    assert not partial["complete"] and partial["missing_segment"] == second
    assert f"segment {second} is missing" in partial["detail"]
    assert rows(partial["url"]) == [1]  # exactly what the WAL before the gap holds


@pytest.mark.postgres
def test_a_damaged_segment_is_named_and_never_replayed(pitr_source, settings):
    first, second, third = three_segments(pitr_source)
    stored = settings.BACKUP_DIR / "wal" / wal_copy(second).manifest["artifact"]
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF
    stored.write_bytes(bytes(data))

    with pytest.raises(RestoreError, match=f"WAL segment {second} is damaged in every copy"):
        restore_to_time(to_time=server_now(pitr_source))
    partial = restore_to_time(to_time=None)
    assert partial["missing_segment"] == second and rows(partial["url"]) == [1]


@pytest.mark.postgres
def test_a_segment_damaged_after_the_base_backup_is_laid_out_is_caught_when_fetched_and_named(pitr_source, settings):
    first, second, third = three_segments(pitr_source)
    stored = settings.BACKUP_DIR / "wal" / wal_copy(second).manifest["artifact"]
    settings.PITR_RESTORE_WAL_AHEAD = 1  # each segment after the first is fetched when replay takes the one before
    damaged = []

    def damage_as_replay_starts(reporter: pipeline.Reporter) -> None:
        if reporter.phase == "replay" and not damaged:  # the base is laid out, the plan long made
            data = bytearray(stored.read_bytes())
            data[len(data) // 2] ^= 0xFF
            stored.write_bytes(bytes(data))
            damaged.append(second)

    with pytest.raises(RestoreError, match=f"WAL segment {second} is damaged in every copy"):
        restore_to_time(
            to_time=server_now(pitr_source), reporter=pipeline.Reporter(listeners=[damage_as_replay_starts])
        )
    assert damaged == [second]
    assert not list((pitr_source.root / "restores").iterdir())  # nothing left running or on disk


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
def test_a_receiver_killed_with_sigkill_resumes_from_the_slot_with_nothing_lost(pitr_source, settings, tmp_path):
    proc = receiver_process(settings, tmp_path)
    try:
        wait_for(base_backup_done, timeout=120, message="the first base backup")
        wait_for(lambda: slot_active(pitr_source), timeout=30, message="pg_receivewal streaming")
        for n in range(1, 51):
            write(pitr_source, n)
        os.kill(proc.popen.pid, signal.SIGKILL)  # the receiver only: its pg_receivewal must follow it
        proc.popen.wait(timeout=10)
        wait_for(lambda: not slot_active(pitr_source), timeout=30, message="pg_receivewal gone with its parent")
        write(pitr_source, *range(51, 101))  # while nobody receives: the slot keeps it on the server
        pitr_source.sql("SELECT pg_switch_wal()")
        write(pitr_source, *range(101, 111))
    finally:
        proc.stop()
    proc = receiver_process(settings, tmp_path)
    try:
        received(pitr_source)
    finally:
        proc.stop()
    assert Backup.objects.filter(kind=Kind.BASEBACKUP).count() == 1  # resumed: no new slot, no new base
    assert WalStream.objects.get(slot="pitr_test").gap_at is None
    latest = restore_to_time(to_time=None)
    assert latest["complete"] and rows(latest["url"]) == list(range(1, 111))


@pytest.mark.postgres
def test_a_slot_deleted_under_us_restarts_with_a_new_base_backup_and_says_there_is_a_gap(pitr_source):
    with Running():
        first = wait_for(base_backup_done, timeout=120, message="the first base backup")
        write(pitr_source, 1)
        received(pitr_source)
        with psycopg.connect(pitr_source.url(), autocommit=True) as conn:
            _drop(conn, "pitr_test")
        stream = wait_for(lambda: WalStream.objects.filter(slot="pitr_test", gap_at__isnull=False).first(), timeout=30)
        assert "replication slot pitr_test disappeared" in stream.gap_detail
        second = wait_for(
            lambda: Backup.objects.filter(kind=Kind.BASEBACKUP, status=Status.SUCCEEDED).exclude(id=first.id).first(),
            timeout=120,
            message="a new base backup after the gap",
        )
        assert second.created_at >= stream.gap_at
        write(pitr_source, 2)
        received(pitr_source)
    latest = restore_to_time(to_time=None)
    assert latest["base_backup"] == second.id and rows(latest["url"]) == [1, 2]


@pytest.mark.postgres
def test_the_api_refuses_a_bad_time_and_a_time_it_cannot_reach(pitr_source, api):
    client = api("commander")
    assert client.get("/api/v1/backups/pitr/").json()["enabled"] is False
    bad = client.post("/api/v1/backups/pitr/restore/", {"to_time": "yesterday-ish"}, format="json")
    assert bad.status_code == 400 and "to_time" in bad.content.decode()
    none = client.post("/api/v1/backups/pitr/restore/", {"to_time": "2026-01-01T00:00:00Z"}, format="json")
    assert none.status_code == 409 and "no base backup finished before" in none.content.decode()
    assert api("viewer").post("/api/v1/backups/pitr/restore/", {"to_time": "latest"}, format="json").status_code == 403


@pytest.mark.postgres
def test_a_time_after_the_last_wal_received_is_refused_never_reported_reached(pitr_source):
    with Running():
        wait_for(base_backup_done, timeout=120, message="the first base backup")
        write(pitr_source, 1)
        shipped(pitr_source)
        received(pitr_source)
        reports_every_second(pitr_source)  # the slot and the RPO never stay behind a segment that ended
    beyond = server_now(pitr_source) + timedelta(hours=1)  # nothing was committed after it yet
    with pytest.raises(RestoreError) as refused:
        restore_to_time(to_time=beyond)
    assert f"could not reach {beyond.isoformat()}" in str(refused.value)
    assert "the WAL received ends at segment" in str(refused.value)
    assert not list((pitr_source.root / "restores").glob("restore-*"))  # nothing left running or on disk

"""Continuous archiving seen by detection, on a real second PostgreSQL cluster: a replication slot
that falls behind warns (P3), and past the hard limit is dropped, which opens a P2 incident."""

from __future__ import annotations

import psycopg
import pytest

from backups.models import Backup, Kind, Status, WalStream
from backups.pitr.slot import slot_guard
from backups.tests.pgcluster import Running, base_backup_done, received
from incidents.detection import services as detection
from incidents.detection.models import Probe
from incidents.lifecycle.models import Incident
from pitchey_incidents.testing import wait_for


@pytest.mark.postgres
def test_a_slot_that_falls_behind_warns_then_is_dropped_with_an_incident(pitr_source, settings):
    with Running():
        wait_for(base_backup_done, timeout=120, message="the first base backup")
        received(pitr_source)
    pitr_source.sql("INSERT INTO ledger SELECT g, repeat('x', 500) FROM generate_series(1000, 5999) g")
    query = "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) FROM pg_replication_slots"
    behind = pitr_source.sql(query)[0][0]
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
    assert pitr_source.sql("SELECT count(*) FROM pg_replication_slots")[0][0] == 0  # the server's disk is safe
    stream = WalStream.objects.get(slot="pitr_test")
    assert stream.state == "dropped" and "over PITR_SLOT_MAX_BYTES" in stream.gap_detail
    report = detection.detection_run(probes=[probe])
    assert "WAL lost: point-in-time recovery has a gap" in [i.rule for i in report.issues]
    assert "WAL gap: replication slot pitr_test dropped" in report.issues[0].detail
    incident = Incident.objects.get(title="WAL lost: point-in-time recovery has a gap (Database)")
    assert incident.severity == "P2" and incident.source == "probe"


@pytest.mark.postgres
def test_a_slot_deleted_under_the_receiver_opens_an_incident_saying_there_is_a_gap(pitr_source):
    """However soon the new base backup closes the gap, detection still sees that WAL was lost."""
    probe = Probe.objects.get(name="database-backups")
    with Running():
        wait_for(base_backup_done, timeout=120, message="the first base backup")
        received(pitr_source)
        assert "WAL lost: point-in-time recovery has a gap" not in [
            i.rule for i in detection.detection_run(probes=[probe]).issues
        ]
        wait_for(lambda: _drop_slot(pitr_source), timeout=30, message="the slot dropped by hand")
        wait_for(lambda: WalStream.objects.filter(slot="pitr_test", gap_at__isnull=False).exists(), timeout=30)
    # The receiver started over with a new slot and a new base backup, which closes the gap at
    # once; the next detection run still opens the incident.
    assert Backup.objects.filter(kind=Kind.BASEBACKUP, status=Status.SUCCEEDED).count() == 2
    report = detection.detection_run(probes=[probe])
    gap = next(i for i in report.issues if i.rule == "WAL lost: point-in-time recovery has a gap")
    assert "replication slot pitr_test disappeared" in gap.detail
    incident = Incident.objects.get(title="WAL lost: point-in-time recovery has a gap (Database)")
    assert incident.severity == "P2"


def _drop_slot(cluster) -> bool:
    """Drop the slot as an operator would, ending the walsender that holds it; False while it is in use."""
    cluster.sql("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE active_pid IS NOT NULL")
    try:
        cluster.sql("SELECT pg_drop_replication_slot('pitr_test')")
    except psycopg.errors.ObjectInUse:
        return False
    return True

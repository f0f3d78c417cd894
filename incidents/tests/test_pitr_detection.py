"""Continuous archiving seen by detection, on a real second PostgreSQL cluster: a replication slot
that falls behind warns (P3), and past the hard limit is dropped, which opens a P2 incident."""

from __future__ import annotations

import pytest

from backups.models import WalStream
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

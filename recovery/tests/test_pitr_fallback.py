"""Without Neon, the failover drill falls back to our own point-in-time recovery: a copy of the
protected database (a real second cluster, archived by the WAL receiver) brought up from the base
backup and WAL with stock postgres, checked, then stopped and removed."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from backups.tests.pgcluster import Running, base_backup_done, pitr_source, received, write  # noqa: F401
from pitchey_incidents.testing import wait_for
from recovery import services

pytestmark = [pytest.mark.postgres]


def copy_of(pitr_source, settings, *, late: bool = False):  # noqa: F811
    """The failover drill without Neon, over a source archived up to two rows (``late``: a table and two
    rows more written after the WAL receiver stopped, so the copy cannot hold them)."""
    settings.NEON_API_KEY = settings.NEON_PROJECT_ID = ""
    pitr_source.sql("GRANT pg_read_all_data TO replicator")  # the PITR role reads every table (copies too)
    with Running():
        wait_for(base_backup_done, timeout=120, message="the first base backup")
        write(pitr_source, 1, 2)
        received(pitr_source)
    if late:
        pitr_source.sql("CREATE TABLE late (id int)")
        write(pitr_source, 3, 4)
    drill = services.drill_start(scenario="database-failover", actor="tester", inline=True)
    drill.refresh_from_db()
    return drill, {s.name: s for s in drill.steps.all()}


def test_the_failover_drill_brings_up_a_pitr_copy_when_there_is_no_neon(pitr_source, settings):  # noqa: F811
    drill, steps = copy_of(pitr_source, settings)
    assert steps["branch"].status == "skipped" and "neon not configured" in steps["branch"].output
    pitr = steps["pitr"]
    assert pitr.status == "succeeded", pitr.output
    assert pitr.data["complete"] and pitr.data["connection_uri"].startswith("postgresql://replicator@127.0.0.1:")
    port = pitr.data["port"]
    check = steps["check_pitr"]
    assert check.status == "succeeded", check.output
    assert check.data["tables"] == {"public.ledger": 2} and steps["source"].data["pitr"] == {"public.ledger": 2}
    assert "every table and row count matches the source" in check.output
    assert "a scratch consumer wrote and read a row" in check.verify_output and check.verified_at
    assert drill.status == "succeeded" and drill.missing == []
    assert steps["pitr_stop"].status == "succeeded", steps["pitr_stop"].output
    assert not Path(pitr.data["datadir"]).exists()  # stopped and removed
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", connect_timeout=2)


def test_the_failover_drill_fails_on_a_pitr_copy_missing_a_table_and_rows(pitr_source, settings):  # noqa: F811
    drill, steps = copy_of(pitr_source, settings, late=True)
    check = steps["check_pitr"]
    assert steps["pitr"].status == "succeeded", steps["pitr"].output
    assert drill.status == "failed" and check.status == "failed", check.output
    assert "missing: public.late" in check.output
    assert "public.ledger: 2 rows in the copy, 4 in the source" in check.output
    assert steps["pitr_stop"].status == "succeeded" and not Path(steps["pitr"].data["datadir"]).exists()

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


def test_the_failover_drill_brings_up_a_pitr_copy_when_there_is_no_neon(pitr_source, settings):  # noqa: F811
    settings.NEON_API_KEY = settings.NEON_PROJECT_ID = ""
    with Running():
        wait_for(base_backup_done, timeout=120, message="the first base backup")
        write(pitr_source, 1, 2)
        received(pitr_source)

    drill = services.drill_start(scenario="database-failover", actor="tester", inline=True)
    drill.refresh_from_db()
    steps = {s.name: s for s in drill.steps.all()}
    assert steps["branch"].status == "skipped" and "neon not configured" in steps["branch"].output
    pitr = steps["pitr"]
    assert pitr.status == "succeeded", pitr.output
    assert pitr.data["complete"] and pitr.data["connection_uri"].startswith("postgresql://replicator@127.0.0.1:")
    port = pitr.data["port"]
    assert steps["pitr_stop"].status == "succeeded", steps["pitr_stop"].output
    assert not Path(pitr.data["datadir"]).exists()  # stopped and removed
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", connect_timeout=2)

"""End to end on PostgreSQL: seed a target, back it up, destroy a table, run the `database` plan,
find the data back, and the achieved RTO and RPO recorded against the targets."""

from __future__ import annotations

import secrets

import psycopg
import pytest

from backups import restore, targets
from backups import services as backup_services
from incidents.lifecycle import services as incident_services
from incidents.lifecycle.models import TimelineEntry
from recovery import selectors, services

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SEED_SQL = """
CREATE TABLE accounts (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE orders (id serial PRIMARY KEY, account_id int REFERENCES accounts(id), total numeric(10, 2));
INSERT INTO accounts (name) SELECT 'acct-' || g FROM generate_series(1, 500) g;
INSERT INTO orders (account_id, total) SELECT 1 + g % 500, g FROM generate_series(1, 2000) g;
"""


@pytest.fixture
def target(settings, tmp_path):
    settings.BACKUP_DIR = tmp_path / "backups"
    settings.MEDIA_DIR = str(tmp_path / "media")
    settings.CONFIG_PATHS = []
    settings.R2_BUCKET = settings.R2_ARCHIVE_BUCKET = ""
    (tmp_path / "media").mkdir()
    base = targets.database_url()
    name = f"recovery_target_{secrets.token_hex(4)}"
    url = restore.create_database(base, name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SEED_SQL)
    settings.TARGET_DATABASE_URL = url
    settings.BACKUP_SCRATCH_DATABASE_URL = base
    yield url, name
    settings.TARGET_DATABASE_URL = ""
    with psycopg.connect(base, autocommit=True) as conn:
        names = [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (name + "%",))]
    for leftover in names:
        restore.drop_database(base, leftover)


def count(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608


def recover_database(incident):
    """Run the ``database`` plan for ``incident`` (inline), as its page would."""
    info = services.incident_info(incident.public_id)
    run = services.run_start(
        plan="database",
        actor="tester",
        incident=info["public_id"],
        incident_declared_at=info["declared_at"],
        incident_started_at=info["started_at"],
        inline=True,
    )
    run.refresh_from_db()
    return run


def test_database_plan_brings_a_dropped_table_back(target, users):
    url, name = target
    backup = backup_services.backup_start(kind="database", actor="tester", inline=True)
    assert backup.status == "succeeded" and backup.verified_at, backup.error

    with psycopg.connect(url, autocommit=True) as conn:  # the disaster
        conn.execute("DROP TABLE orders")
    incident = incident_services.incident_declare(severity="P0", title="Orders table lost", actor=users["commander"])

    run = recover_database(incident)
    steps = {s.name: s for s in run.steps.all()}
    assert run.status == "succeeded", [(s.name, s.status, s.output) for s in steps.values()]
    assert steps["restart_endpoint"].status == "skipped"  # no Neon here: fell back to the restore
    assert steps["restore_backup"].status == "succeeded" and steps["restore_backup"].verified_at
    assert steps["branch_pitr"].status == "skipped" and steps["verify"].status == "succeeded"

    assert count(url, "orders") == 2000 and count(url, "accounts") == 500  # the data is back, same URL
    kept = steps["restore_backup"].data["kept_as"]
    with psycopg.connect(targets.database_url().replace(name, kept)) as conn:  # the damaged one, kept aside
        assert conn.execute("SELECT to_regclass('orders')").fetchone()[0] is None

    rto = run.objectives.get(kind="rto", subject="database")
    assert (rto.target_s, rto.max_s) == (900, 1800) and 0 < rto.achieved_s < 900 and rto.met
    rpo = run.objectives.get(kind="rpo", subject="database")
    expected_rpo = (incident.declared_at - backup.snapshot_at).total_seconds()
    assert rpo.target_s == 3600 and rpo.achieved_s == pytest.approx(expected_rpo, abs=0.01) and rpo.met
    results = [r for r in selectors.objective_results() if r["run"] == run.id]
    assert {(r["objective"], r["service"] or r["data_type"], r["met"]) for r in results} == {
        ("rto", "database", True),
        ("rpo", "database", True),
    }
    notes = TimelineEntry.objects.filter(incident=incident, kind="recovery_step").values_list("message", flat=True)
    assert any("Restore the newest verified backup" in n and "succeeded" in n for n in notes)
    checklist = {c["item"]: c for c in run.report["checklist"]}
    assert checklist["Backups verified and restorable"]["status"] == "pass"
    assert checklist["Recovery meets RTO targets"]["status"] == "pass"
    assert checklist["Data loss within RPO targets"]["status"] == "pass"


def test_backup_restore_drill_touches_only_scratch(target):
    url, _ = target
    for kind in ("database", "config", "media"):
        backup_services.backup_start(kind=kind, actor="tester", inline=True)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO accounts (name) VALUES ('after the backup')")
    drill = services.drill_start(scenario="backup-restore", actor="beat", inline=True)
    drill.refresh_from_db()
    steps = {step.name: step for step in drill.steps.all()}
    assert drill.status == "succeeded" and not drill.deviated, [s.output for s in steps.values()]
    database = steps["restore_database"]
    assert database.status == "succeeded" and database.verified_at
    assert database.data["tables"] == 2 and database.data["rows"] == 2500  # as in the manifest, not as live now
    assert "restored into a scratch database" in database.output and "2 tables, 2500 rows match" in database.output
    assert count(url, "accounts") == 501  # production untouched
    assert drill.steady_state["before"]["ok"] and drill.steady_state["after"]["ok"]
    assert drill.objectives.filter(kind="rpo", subject="database").get().achieved_s > 0

"""Database backups of PostgreSQL: dump, manifest, restore with our code and with stock tools."""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path

import psycopg
import pytest

from backups import pgtools, restore, selectors, services, targets
from backups.engines import follow
from backups.models import Status

from .conftest import fingerprint

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_backup_restores_the_same_data(pg_target, settings):
    backup = services.backup_start(kind="database", actor="tester", inline=True)

    assert backup.status == Status.SUCCEEDED, backup.error
    assert backup.format == "pg_dump-custom" and backup.compression == "zstd"
    assert backup.verified_at is not None and backup.verification["ok"]
    local = backup.locations.get(tier="local")
    artifact = Path(local.uri.removeprefix("file://"))
    assert artifact.exists() and artifact.name.endswith(".dump.zst")
    manifest = json.loads(artifact.with_name(artifact.name.split(".")[0] + ".manifest.json").read_text())
    assert manifest["sha256"] == backup.sha256 and manifest["tier"] == "local"
    assert manifest["parts"][0]["tables"] == {"public.accounts": 500, "public.events": 3000, "public.empty_table": 0}
    assert manifest["server_version"]
    assert manifest["pg_dump_version"] == pgtools.version("pg_dump")  # read from the dump's header, as it prints it
    assert "***" not in manifest["target"] or "@" in manifest["target"]
    assert manifest["retention"]["local"]["days"] == 7
    assert {p["part"] for p in manifest["parts"]} == {"database", "globals"}
    assert selectors.latest_verified_backup("database") == backup

    # Data written after the backup must not be in the restore: the snapshot is the RPO anchor.
    with psycopg.connect(pg_target, autocommit=True) as conn:
        expected = fingerprint(pg_target)
        conn.execute("INSERT INTO accounts (name) VALUES ('after the backup')")
    with restore.scratch_database(settings.BACKUP_SCRATCH_DATABASE_URL) as url:
        result = restore.restore_database(backup=backup, database_url=url)
        assert fingerprint(url) == expected
    assert result["tables"]["public.events"] == 3000 and result["duration_s"] > 0


def test_stock_one_liner_restores_the_backup(pg_target, settings):
    """The README's command, with nothing of ours: zstd -dc FILE | pg_restore -d NEWDB."""
    backup = services.backup_start(kind="database", actor="tester", inline=True)
    artifact = backup.locations.get(tier="local").uri.removeprefix("file://")
    with restore.scratch_database(settings.BACKUP_SCRATCH_DATABASE_URL) as url:
        done = subprocess.run(
            f"zstd -dc '{artifact}' | pg_restore --no-owner -d '{url}'", shell=True, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert fingerprint(url) == fingerprint(pg_target)


def test_gzip_option_restores_with_gzip(pg_target, settings):
    backup = services.backup_start(kind="database", actor="tester", inline=True, compression="gzip", level=6)
    assert backup.status == Status.SUCCEEDED, backup.error
    artifact = backup.locations.get(tier="local").uri.removeprefix("file://")
    assert artifact.endswith(".dump.gz")
    with restore.scratch_database(settings.BACKUP_SCRATCH_DATABASE_URL) as url:
        done = subprocess.run(f"gzip -dc '{artifact}' | pg_restore -d '{url}'", shell=True, capture_output=True)
        assert done.returncode == 0, done.stderr
        assert fingerprint(url) == fingerprint(pg_target)


def test_restore_test_compares_row_counts(pg_target):
    backup = services.backup_start(kind="database", actor="tester", inline=True)
    verified = services.backup_verify(backup_id=backup.id, restore_test=True)
    checks = verified.verification["tiers"]["local"]["checks"]
    assert [c["check"] for c in checks if c["file"] == backup.artifact] == ["checksum", "decompress", "list", "restore"]
    assert all(c["ok"] and c["duration_s"] >= 0 for c in checks)
    assert "3500 rows match" in checks[3]["detail"]

    # A manifest that disagrees with the data is caught by the restore test (it compares counts).
    manifest = backup.manifest
    manifest["parts"][0]["tables"]["public.accounts"] = 499
    type(backup).objects.filter(id=backup.id).update(manifest=manifest)
    failed = services.backup_verify(backup_id=backup.id, restore_test=True)
    assert not failed.verification["ok"] and failed.verified_at is None
    assert "public.accounts: 499 expected, 500 restored" in failed.verification["detail"]
    assert selectors.latest_verified_backup("database") is None
    assert selectors.latest_succeeded_backup("database").id == backup.id


def test_failed_dump_is_a_failed_backup_and_leaves_nothing(settings, transactional_db, backup_paths):
    settings.TARGET_DATABASE_URL = settings.BACKUP_SCRATCH_DATABASE_URL = ""
    base = restore.targets.database_url()
    settings.TARGET_DATABASE_URL = restore.targets.with_dbname(base, "no_such_database_here")
    backup = services.backup_start(kind="database", actor="tester", inline=True)
    assert backup.status == Status.FAILED
    assert "no_such_database_here" in backup.error or "does not exist" in backup.error
    assert not backup.locations.exists() and backup.verified_at is None
    leftovers = [p for p in (backup_paths / "backups").rglob("*") if p.is_file()]
    assert leftovers == []


def test_scratch_database_is_dropped(pg_target, settings):
    base = settings.BACKUP_SCRATCH_DATABASE_URL
    with restore.scratch_database(base) as url:
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(url) as conn:
            assert conn.execute("select current_database()").fetchone()[0] == name
    with psycopg.connect(base) as conn:
        assert conn.execute("select count(*) from pg_database where datname = %s", [name]).fetchone()[0] == 0


def test_retention_pause_is_visible_to_other_connections(transactional_db):
    with services.retention_paused("drill 7"):
        assert services.retention_pauses() == ["drill 7"]
        assert services.backups_prune(actor="t")["paused"] == ["drill 7"]
    assert services.retention_pauses() == []


def test_followed_dump_restores_table_by_table(pg_target, settings, monkeypatch):
    """Frames of 16 KiB: the manifest's frame index and data positions let the restore start one
    loader per table at its own frame; the same copy also restores with stock tools, in parallel
    once decompressed to a file."""

    with psycopg.connect(pg_target, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO events (account_id, payload) SELECT 1, jsonb_build_object('x', md5(g::text)) "
            "FROM generate_series(1, 20000) g"
        )
    monkeypatch.setattr(follow, "FRAME", 16 * 1024)
    backup = services.backup_start(kind="database", actor="tester", inline=True)
    assert backup.status == Status.SUCCEEDED, backup.error
    part = backup.manifest["parts"][0]
    assert len(part["frames"]) > 10 and part["toc_size"] == part["frames"][1][0]
    assert {p["part"] for p in backup.manifest["parts"]} == {"database", "globals"}
    expected = fingerprint(pg_target)
    with restore.scratch_database(settings.BACKUP_SCRATCH_DATABASE_URL) as url:
        result = restore.restore_database(backup=backup, database_url=url)
        assert fingerprint(url) == expected
        assert result["tables"] == {"public.accounts": 500, "public.events": 23000, "public.empty_table": 0}
    artifact = backup.locations.get(tier="local").uri.removeprefix("file://")
    with restore.scratch_database(settings.BACKUP_SCRATCH_DATABASE_URL) as url:
        dump = Path(artifact).with_suffix(".restored")
        subprocess.run(["zstd", "-q", "-d", artifact, "-o", str(dump)], check=True)
        done = subprocess.run(["pg_restore", "-j", "2", "--exit-on-error", "-d", url, str(dump)], capture_output=True)
        dump.unlink()
        assert done.returncode == 0, done.stderr
        assert fingerprint(url) == expected
    # A backup made before frame indexes (or a copy that cannot seek) restores the old way, the same.
    for key in ("frames", "blocks", "toc_size"):
        part.pop(key)
    with restore.scratch_database(settings.BACKUP_SCRATCH_DATABASE_URL) as url:
        assert restore.restore_database(backup=backup, database_url=url)["tables"] == result["tables"]
        assert fingerprint(url) == expected


def test_a_corrupt_copy_is_refused_before_or_caught_during_the_restore(pg_target, settings):
    backup = services.backup_start(kind="database", actor="tester", inline=True)
    part = backup.manifest["parts"][0]
    location = backup.locations.get(tier="local")
    artifact = Path(location.uri.removeprefix("file://"))
    data = bytearray(artifact.read_bytes())
    data[part["frames"][-1][1] + 20] ^= 0xFF  # inside the last frame: the events data
    artifact.write_bytes(bytes(data))
    opener = restore.location_opener(location)
    with restore.scratch_database(settings.BACKUP_SCRATCH_DATABASE_URL) as url:
        with pytest.raises(restore.RestoreError, match="SHA-256 differs"):
            restore.restore_part(opener, part, url, checksum_first=True)
        with psycopg.connect(url) as conn:  # refused before anything was restored
            assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0] == 0
        # The last copy there is: checked alongside, and the damaged frame stops the restore anyway.
        with pytest.raises(restore.RestoreError, match="damaged data in public.events"):
            restore.restore_part(opener, part, url, checksum_first=False)


def test_a_copy_whose_table_of_contents_is_damaged_is_refused_untouched(pg_target, settings):
    backup = services.backup_start(kind="database", actor="tester", inline=True)
    part = backup.manifest["parts"][0]
    location = backup.locations.get(tier="local")
    artifact = Path(location.uri.removeprefix("file://"))
    data = bytearray(artifact.read_bytes())
    data[part["frames"][1][1] // 2] ^= 0xFF  # inside the first frame: the table of contents
    artifact.write_bytes(bytes(data))
    with restore.scratch_database(settings.BACKUP_SCRATCH_DATABASE_URL) as url:
        with pytest.raises(restore.DamagedCopy, match="unreadable table of contents"):
            restore.restore_part(restore.location_opener(location), part, url, checksum_first=False)
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0] == 0


@pytest.mark.parametrize(
    ("sabotage", "reason"),
    [
        ("ALTER TABLE accounts ADD CONSTRAINT small CHECK (balance < 10)", 'violates check constraint "small"'),
        ("CREATE UNIQUE INDEX accounts_pkey ON events (id)", 'relation "accounts_pkey" already exists'),
    ],
    ids=["rows", "index"],
)
def test_a_table_that_does_not_load_stops_the_restore_with_the_servers_reason(
    pg_target, settings, monkeypatch, sabotage, reason
):
    """Once the schema is in, something the rows (or the table's primary key) cannot get past: the
    restore stops with the server's own words and names the table; no loader is left running."""
    backup = services.backup_start(kind="database", actor="tester", inline=True)
    part = backup.manifest["parts"][0]
    real = restore.pg_restore

    def schema_then_sabotage(dump, url, *options, **kwargs):
        real(dump, url, *options, **kwargs)
        if "--section=pre-data" in options:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(sabotage)

    monkeypatch.setattr(restore, "pg_restore", schema_then_sabotage)
    opener = restore.location_opener(backup.locations.get(tier="local"))
    with restore.scratch_database(settings.BACKUP_SCRATCH_DATABASE_URL) as url:
        with pytest.raises(restore.RestoreError, match=f"loading public.accounts: ERROR: .*{reason}"):
            restore.restore_part(opener, part, url)
        with psycopg.connect(url) as conn:
            others = (
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            assert conn.execute(others).fetchone()[0] == 0


def test_row_counts_come_from_the_server_not_from_the_manifest(pg_target, settings):
    """The loaders take the server's own count of rows inserted when it agrees with the manifest;
    a manifest that says otherwise gets the table counted, and the restore reports what is there."""
    backup = services.backup_start(kind="database", actor="tester", inline=True)
    part = dict(backup.manifest["parts"][0])
    assert part["tables"]["public.accounts"] == 500
    part["tables"] = part["tables"] | {"public.accounts": 499, "public.events": 3001}
    opener = restore.location_opener(backup.locations.get(tier="local"))
    with restore.scratch_database(settings.BACKUP_SCRATCH_DATABASE_URL) as url:
        result = restore.restore_part(opener, part, url)
    assert result["tables"] == {"public.accounts": 500, "public.events": 3000, "public.empty_table": 0}


def test_an_empty_database_backs_up_and_restores(settings, transactional_db):
    """A database with no table at all (a new project's) has no data block in its dump."""
    base = targets.database_url()
    name = f"pitchey_empty_{secrets.token_hex(4)}"
    settings.TARGET_DATABASE_URL = restore.create_database(base, name)
    try:
        backup = services.backup_start(kind="database", actor="tester", inline=True)
        assert backup.status == Status.SUCCEEDED, backup.error
        assert backup.verification["ok"] and backup.manifest["parts"][0]["tables"] == {}
        with restore.scratch_database(base) as url:
            assert restore.restore_database(backup=backup, database_url=url)["tables"] == {}
    finally:
        settings.TARGET_DATABASE_URL = ""
        restore.drop_database(base, name)

"""Restores that cannot read the local copy: it is missing or damaged, and the copy in the S3 tiers
(moto in server mode) is read instead, for a PostgreSQL dump and for a point-in-time restore; and a
point-in-time restore from copies encrypted with age (a real second PostgreSQL cluster)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg
import pytest

from backups import manifest as mf
from backups import restore, services
from backups.models import Backup, Kind, Status
from backups.pitr.restore import restore_to_time
from backups.restore import RestoreError
from pitchey_incidents.testing import wait_for

from .conftest import fingerprint
from .pgcluster import Running, after, base_backup_done, received, rows, server_now, shipped, write


def _local(backup: Backup) -> Path:
    return Path(backup.locations.get(tier="local").uri.removeprefix("file://"))


def _drop_local(backup: Backup) -> None:
    """Every local file of the backup (its parts and manifest) is gone."""
    local = _local(backup)
    for path in local.parent.glob(local.name.split(".")[0] + ".*"):
        path.unlink()


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _key(folder: Path, name: str) -> tuple[Path, str]:
    """A key made by the stock ``age-keygen``: its identity file and its public recipient."""
    path = folder / f"{name}.txt"
    subprocess.run(["age-keygen", "-o", str(path)], check=True, capture_output=True)
    recipient = subprocess.run(["age-keygen", "-y", str(path)], check=True, capture_output=True, text=True)
    return path, recipient.stdout.strip()


# --- a PostgreSQL dump -----------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize("harm", ["missing", "damaged"])
def test_a_dump_whose_local_copy_is_harmed_restores_from_the_cloud_copy(s3, pg_target, settings, harm):
    backup = services.backup_start(kind="database", actor="t", inline=True)
    assert backup.status == Status.SUCCEEDED, backup.error
    assert {loc.tier for loc in backup.locations.all()} == {"local", "cloud", "archive"}
    local = _local(backup)
    local.unlink() if harm == "missing" else _flip_a_byte(local)

    with restore.scratch_database(settings.BACKUP_SCRATCH_DATABASE_URL) as url:
        result = restore.restore_database(backup=backup, database_url=url)
        assert result["tier"] == "cloud"
        assert fingerprint(url) == fingerprint(pg_target)  # every row, sequence, index, comment
        assert result["tables"]["public.events"] == 3000


@pytest.mark.postgres
def test_a_dump_read_from_the_archive_when_local_is_gone_and_the_cloud_copy_is_damaged(s3, pg_target, settings):
    backup = services.backup_start(kind="database", actor="t", inline=True)
    assert backup.status == Status.SUCCEEDED, backup.error
    _local(backup).unlink()
    cloud = backup.locations.get(tier="cloud").uri.removeprefix("s3://")
    bucket, _, key = cloud.partition("/")
    body = bytearray(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    body[len(body) // 2] ^= 0xFF
    s3.put_object(Bucket=bucket, Key=key, Body=bytes(body))

    with restore.scratch_database(settings.BACKUP_SCRATCH_DATABASE_URL) as url:
        result = restore.restore_database(backup=backup, database_url=url)
        assert result["tier"] == "archive" and fingerprint(url) == fingerprint(pg_target)


@pytest.mark.postgres
def test_a_dump_with_no_intact_copy_anywhere_is_refused_naming_each_tier(s3, pg_target, settings):
    backup = services.backup_start(kind="database", actor="t", inline=True)
    _local(backup).unlink()
    for tier in ("cloud", "archive"):
        bucket, _, key = backup.locations.get(tier=tier).uri.removeprefix("s3://").partition("/")
        s3.put_object(Bucket=bucket, Key=key, Body=b"not the backup")
    with restore.scratch_database(settings.BACKUP_SCRATCH_DATABASE_URL) as url:
        with pytest.raises(RestoreError) as refused:
            restore.restore_database(backup=backup, database_url=url)
        assert all(f"{tier}:" in str(refused.value) for tier in ("local", "cloud", "archive"))
        with psycopg.connect(url) as conn:  # not a table, not a schema object was created
            assert (
                conn.execute("SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace").fetchone()[0]
                == 0
            )


# --- point-in-time ---------------------------------------------------------------------------------


def _noted_between_two_writes(cluster) -> object:
    """Rows 1-3, a noted moment, rows 4-5 shipped; the receiver stopped. Returns the moment."""
    with Running():
        wait_for_base()
        write(cluster, 1, 2, 3)
        noted = server_now(cluster)
        after(cluster, noted)
        write(cluster, 4, 5)
        shipped(cluster)
        received(cluster)
    return noted


def wait_for_base() -> Backup:
    return wait_for(base_backup_done, timeout=120, message="the first base backup")


def _pitr_copies() -> list[Backup]:
    return list(Backup.objects.filter(kind__in=[Kind.BASEBACKUP, Kind.WAL], status=Status.SUCCEEDED))


@pytest.mark.postgres
def test_a_point_in_time_restore_reads_the_cloud_when_local_copies_are_gone_or_damaged(pitr_source, s3, settings):
    noted = _noted_between_two_writes(pitr_source)
    copies = _pitr_copies()
    assert all({loc.tier for loc in b.locations.all()} == {"local", "cloud", "archive"} for b in copies)
    base = next(b for b in copies if b.kind == Kind.BASEBACKUP)
    wal = [b for b in copies if b.kind == Kind.WAL]
    _drop_local(base)  # the base backup's local files are gone
    _flip_a_byte(_local(wal[0]))  # a WAL segment's local copy is damaged
    for backup in wal[1:]:
        _drop_local(backup)  # the others' are gone

    result = restore_to_time(to_time=noted)
    assert result["complete"] and result["base_backup"] == base.id
    assert rows(result["url"]) == [1, 2, 3]


@pytest.mark.postgres
def test_a_point_in_time_restore_from_copies_encrypted_with_age(pitr_source, s3, settings, tmp_path):
    identity, recipient = _key(tmp_path, "key")
    other, other_recipient = _key(tmp_path, "other")
    settings.BACKUP_AGE_RECIPIENTS = [recipient]
    noted = _noted_between_two_writes(pitr_source)
    copies = _pitr_copies()
    for backup in copies:
        for location in backup.locations.all():
            view = mf.for_tier(backup.manifest, location.tier)
            assert location.uri.endswith(".age") and all(p.get("encryption") for p in mf.stored_parts(view))
        assert _local(backup).read_bytes().startswith(b"age-encryption.org/v1\n")

    # A wrong key: a clear error naming the key needed, before a data directory is made.
    settings.BACKUP_AGE_IDENTITY_FILE = str(other)
    with pytest.raises(RestoreError) as refused:
        restore_to_time(to_time=noted)
    assert f"needs the age key of {recipient}" in str(refused.value) and other_recipient in str(refused.value)
    assert not list((pitr_source.root / "restores").glob("restore-*"))

    settings.BACKUP_AGE_IDENTITY_FILE = str(identity)
    result = restore_to_time(to_time=noted)
    assert result["complete"] and rows(result["url"]) == [1, 2, 3]

    # With the local copies gone, the cloud's encrypted copies serve the same restore.
    for backup in copies:
        _drop_local(backup)
    again = restore_to_time(to_time=None)
    assert again["complete"] and rows(again["url"]) == [1, 2, 3, 4, 5]

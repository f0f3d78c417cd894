"""Retention: per kind and tier from the policy, by recorded time, never the newest verified copy,
paused while restores run, previewed by a dry run, every deletion audited."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from backups import services
from backups.models import Backup, BackupLocation, BackupPolicy, RetentionPause
from pitchey_incidents.models import AuditEntry

from .factories import verified_backup

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def now(clock):
    """Retention reads "now": every test here runs on the test clock, and ages its backups against it."""
    return clock


def _aged(days: float, *, verified: bool = True) -> Backup:
    backup = services.backup_start(kind="database", actor="t", inline=True)
    assert backup.status == "succeeded", backup.error
    at = timezone.now() - timedelta(days=days)
    Backup.objects.filter(id=backup.id).update(snapshot_at=at, verified_at=at if verified else None)
    if not verified:
        BackupLocation.objects.filter(backup=backup).update(verified_at=None)
    backup.refresh_from_db()
    return backup


def _files(backup: Backup) -> list[Path]:
    folder = Path(backup.locations.get().uri.removeprefix("file://")).parent
    return sorted(folder.glob(backup.artifact.split(".")[0] + ".*"))


def test_prune_keeps_exactly_what_the_table_says(sqlite_target, capsys):
    old, older_than_7, recent, newest = _aged(10), _aged(8), _aged(3), _aged(1)
    old_files = _files(old)
    assert len(old_files) == 2  # the artifact and its manifest

    call_command("backup", "prune", "--dry-run")
    out = capsys.readouterr().out
    assert f"would delete backup {old.id} database local" in out and "2 copies would delete" in out
    assert all(p.exists() for p in old_files)
    assert AuditEntry.objects.filter(action="backup.prune", dry_run=True).count() == 1

    result = services.backups_prune(actor="tester")
    assert sorted(item["backup"] for item in result["deleted"]) == sorted([old.id, older_than_7.id])
    assert not any(p.exists() for p in old_files) and not _files_exist(older_than_7.id)
    assert set(BackupLocation.objects.values_list("backup_id", flat=True)) == {recent.id, newest.id}
    audits = AuditEntry.objects.filter(action="backup.delete", dry_run=False)
    assert {a.data["backup"] for a in audits} == {old.id, older_than_7.id}
    assert all(a.actor == "tester" and a.target.startswith("file://") for a in audits)
    assert all(p.exists() for p in _files(recent))


def _files_exist(backup_id: int) -> bool:

    return any(Path(settings.BACKUP_DIR).glob(f"database/*-{backup_id}.*"))


def test_newest_verified_backup_is_never_deleted(sqlite_target):
    verified = _aged(20)
    unverified_a, unverified_b = _aged(15, verified=False), _aged(10, verified=False)
    result = services.backups_prune(actor="t")
    assert sorted(i["backup"] for i in result["deleted"]) == sorted([unverified_a.id, unverified_b.id])
    assert BackupLocation.objects.filter(backup=verified).exists() and _files(verified)


def test_indefinite_retention_and_pause(sqlite_target):
    old = _aged(400)
    _aged(300)
    BackupPolicy.objects.filter(kind="database").update(local_days=None)
    assert services.backups_prune(actor="t")["deleted"] == []
    BackupPolicy.objects.filter(kind="database").update(local_days=7)
    with services.retention_paused("restore drill"):
        paused = services.backups_prune(actor="t")
        assert paused["paused"] == ["restore drill"] and paused["deleted"] == []
        assert BackupLocation.objects.filter(backup=old).exists()
    assert [i["backup"] for i in services.backups_prune(actor="t")["deleted"]] == [old.id]


def test_expired_pause_does_not_block_forever(sqlite_target):

    RetentionPause.objects.create(reason="crashed drill", expires_at=timezone.now() - timedelta(seconds=1))
    assert services.retention_pauses() == []
    services.backups_sweep()
    assert not RetentionPause.objects.exists()


def test_wal_a_kept_base_backup_needs_is_never_pruned(db):
    """WAL is kept by age like any backup, except the segments from the oldest kept base backup on."""
    base = verified_backup("basebackup", 20 * 86400)  # the only base backup: the newest, kept at any age
    Backup.objects.filter(id=base.id).update(manifest={"pitr": {"start_segment": "000000010000000000000005"}})
    segments = {}
    for n in range(3, 8):
        wal = verified_backup("wal", (25 - n) * 86400)  # all older than the 7 local days
        name = f"0000000100000000000000{n:02X}"
        Backup.objects.filter(id=wal.id).update(manifest={"wal": {"segment": name}})
        segments[wal.id] = name
    planned = {segments[item["backup"]] for item in services.prune_plan() if item["kind"] == "wal"}
    assert planned == {"000000010000000000000003", "000000010000000000000004"}

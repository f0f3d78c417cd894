"""A restore on a real Celery worker killed with SIGKILL: the sweeper marks it failed, the previous
content stays in place and nothing half-extracted is live. And a worker lost after the swap: the
sweeper recognises the swapped folder by its inode and puts the previous content back."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from backups import restore_files, restores, services
from backups.models import Restore, Status
from pitchey_incidents.testing import wait_for

from .test_restore_files import leftovers, tree

pytestmark = pytest.mark.django_db(transaction=True)
MIB = 1 << 20


def _media_backup(backup_paths: Path):
    media = backup_paths / "media"
    (media / "big.bin").write_bytes(os.urandom(4 * MIB))
    (media / "small.txt").write_text("as backed up")
    backup = services.backup_start(kind="media", actor="t", inline=True)
    assert backup.status == Status.SUCCEEDED, backup.error
    (media / "small.txt").write_text("changed since")
    (media / "new.txt").write_text("added since")
    return backup, media


def test_sigkill_mid_restore_is_swept_and_the_previous_content_stays(worker, backup_paths):
    backup, media = _media_backup(backup_paths)
    before = tree(media)
    env = {"BACKUP_DIR": str(backup_paths / "backups"), "MEDIA_DIR": str(media), "CONFIG_PATHS": ""}
    proc = worker(BACKUP_MAX_BYTES_PER_S=str(256 * 1024), **env)  # ~16 s to extract if left alone
    row = restores.restore_start(backup=backup, actor="t")
    staging = media.parent / f".media.restore-{row.id}"

    def midway() -> bool:
        current = Restore.objects.get(id=row.id)
        written = sum(p.stat().st_size for p in staging.rglob("*") if p.is_file()) if staging.exists() else 0
        return current.status == Status.RUNNING and current.journal and written > 0

    wait_for(midway, timeout=60, message="the restore to be midway through extracting")
    proc.kill()
    assert Restore.objects.get(id=row.id).status == Status.RUNNING and staging.exists()
    assert tree(media) == before  # the live folder was never touched

    wait_for(lambda: restores.restores_sweep(heartbeat_timeout_s=1)["failed"], timeout=30, message="the sweep")
    row.refresh_from_db()
    assert row.status == Status.FAILED and "heartbeat stopped" in row.error and "untouched" in row.error
    assert tree(media) == before and leftovers(media.parent) == [] and row.journal == []
    assert restores.restores_sweep(heartbeat_timeout_s=1)["failed"] == 0
    # The next restore runs normally.
    again = restores.restore_start(backup=backup, actor="t", inline=True)
    again.refresh_from_db()
    assert again.status == Status.SUCCEEDED, again.error
    assert (media / "small.txt").read_text() == "as backed up" and not (media / "new.txt").exists()


def test_a_worker_lost_after_the_swap_gets_the_previous_content_back(backup_paths):
    """The steps of a restore up to the swap, then the worker is gone before the verification."""
    backup, media = _media_backup(backup_paths)
    before = tree(media)
    row = Restore.objects.create(backup=backup, kind="media", status=Status.RUNNING, heartbeat_at=timezone.now())
    dests, _ = restore_files.destinations(backup.manifest, into=None)

    def journal(entries: list[dict]) -> None:
        Restore.objects.filter(id=row.id).update(journal=entries)

    job = restore_files.FileRestore(backup.manifest, dests, str(row.id), journal, restore_files.pipeline.Reporter())
    entries = restore_files.journal_entries(dests, job.tag)
    journal(entries)
    parts = restore_files.file_parts(backup.manifest)
    job._extract(parts, restore_files.choose_copies(parts, restores.copies(backup)))
    job._stage(entries)
    restore_files.swap_in(entries[0])
    assert (media / "small.txt").read_text() == "as backed up"  # the restored copy is live…
    Restore.objects.filter(id=row.id).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
    assert restores.restores_sweep(heartbeat_timeout_s=60)["failed"] == 1
    row.refresh_from_db()
    assert row.status == Status.FAILED and "previous content put back" in row.error
    assert tree(media) == before and leftovers(media.parent) == []  # …until the sweeper put it back

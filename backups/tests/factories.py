"""Catalog rows for tests that need backups to exist without taking them."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from backups.models import Backup, BackupLocation, Status


def verified_backup(kind: str, age_s: int, *, verified: bool = True) -> Backup:
    """A succeeded backup of ``kind`` whose snapshot is ``age_s`` old (by the test's clock), with a local copy."""
    now = timezone.now()
    backup = Backup.objects.create(
        kind=kind,
        status=Status.SUCCEEDED,
        snapshot_at=now - timedelta(seconds=age_s),
        finished_at=now - timedelta(seconds=age_s),
        verified_at=now if verified else None,
        size_bytes=10,
    )
    BackupLocation.objects.create(backup=backup, tier="local", uri=f"file:///x/{backup.id}", verified_at=now)
    return backup

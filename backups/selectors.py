"""Reads about backups, shaped for pages, the API, metrics and the recovery app."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Exists, OuterRef, Prefetch, QuerySet
from django.utils import timezone

from .models import Backup, BackupLocation, DataType, Status


def _stored() -> Exists:
    return Exists(BackupLocation.objects.filter(backup=OuterRef("pk")))


def backup_list(*, kind: str | None = None, status: str | None = None) -> QuerySet[Backup]:
    qs = Backup.objects.prefetch_related(Prefetch("locations", queryset=BackupLocation.objects.order_by("id")))
    if kind:
        qs = qs.filter(kind=kind)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-id")


def backup_get(backup_id: int) -> Backup:
    return backup_list().get(id=backup_id)


def latest_succeeded_backup(kind: str = "database") -> Backup | None:
    return (
        Backup.objects.filter(kind=kind, status=Status.SUCCEEDED)
        .filter(_stored())
        .order_by("-snapshot_at", "-id")
        .first()
    )


def latest_verified_backup(kind: str = "database") -> Backup | None:
    """The newest succeeded backup of ``kind`` whose last verification passed and that still has a copy."""
    return (
        Backup.objects.filter(kind=kind, status=Status.SUCCEEDED, verified_at__isnull=False)
        .filter(_stored())
        .order_by("-snapshot_at", "-id")
        .first()
    )


def latest_verified_holding(part: str) -> Backup | None:
    """The newest verified backup with a stored copy that holds ``part``: a backup of that kind,
    or a full backup (which holds the database, config and media)."""
    kinds = [part, "full"] if part in ("database", "config", "media") else [part]
    candidates = (
        Backup.objects.filter(kind__in=kinds, status=Status.SUCCEEDED, verified_at__isnull=False)
        .filter(_stored())
        .order_by("-snapshot_at", "-id")
    )
    for backup in candidates[:20]:
        if any(p.get("part") == part and not p.get("skipped") for p in backup.manifest.get("parts", [])):
            return backup
    return None


def _newest_verified_snapshots() -> dict[str, object]:
    rows = (
        Backup.objects.filter(status=Status.SUCCEEDED, verified_at__isnull=False)
        .filter(_stored())
        .order_by("kind", "-snapshot_at")
        .values_list("kind", "snapshot_at")
    )
    newest: dict[str, object] = {}
    for kind, at in rows:
        newest.setdefault(kind, at)
    return newest


def rpo_status(*, now: datetime | None = None) -> list[dict]:
    """Per data type: age of the newest verified backup holding it (its own kind, or a full
    backup) against the RPO target and maximum: ok, warning (past target), breach (past maximum),
    unknown (no backup kind, or never backed up)."""
    now = now or timezone.now()
    newest = _newest_verified_snapshots()
    rows = []
    for dt in DataType.objects.all():
        holders = [dt.backup_kind, "full"] if dt.backup_kind in ("database", "config", "media") else [dt.backup_kind]
        candidates = [newest.get(kind) for kind in holders] if dt.backup_kind else []
        candidates = [c for c in candidates if c]
        age = round((now - max(candidates)).total_seconds()) if candidates else None
        if age is None:
            state = "unknown"
        elif age <= dt.rpo_target_s:
            state = "ok"
        elif age <= dt.rpo_max_s:
            state = "warning"
        else:
            state = "breach"
        rows.append(
            {
                "data_type": dt.slug,
                "name": dt.name,
                "backup_kind": dt.backup_kind,
                "target_s": dt.rpo_target_s,
                "max_s": dt.rpo_max_s,
                "age_s": age,
                "state": state,
            }
        )
    return rows


def running_backups() -> QuerySet[Backup]:
    return Backup.objects.filter(status__in=[Status.QUEUED, Status.RUNNING]).order_by("created_at")

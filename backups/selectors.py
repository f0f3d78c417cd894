"""Reads about backups, shaped for pages, the API, metrics and the recovery app."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Exists, OuterRef, Prefetch, QuerySet
from django.utils import timezone

from .models import Backup, BackupLocation, DataType, Kind, Status, WalStream

GAP_NOTICE_S = 3600  # a WAL gap stays reported this long, whatever closes it


def _stored() -> Exists:
    return Exists(BackupLocation.objects.filter(backup=OuterRef("pk")))


def _with_locations() -> QuerySet[Backup]:
    return Backup.objects.prefetch_related(Prefetch("locations", queryset=BackupLocation.objects.order_by("id")))


def backup_list(*, kind: str | None = None, status: str | None = None) -> QuerySet[Backup]:
    """Newest first; WAL segments (one per 16 MiB of WAL) only when asked for with ``kind="wal"``."""
    qs = _with_locations()
    qs = qs.filter(kind=kind) if kind else qs.exclude(kind=Kind.WAL)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-id")


def backup_get(backup_id: int) -> Backup:
    return _with_locations().get(id=backup_id)


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


def pitr_status(*, now: datetime | None = None) -> dict:
    """Continuous archiving as the RPO panel shows it: the newest verified base backup, when the WAL
    was last received in full (``wal_received_at``: everything the server had written by then is
    stored), how far behind that is (``lag_s``), the WAL the slot keeps on the server, and an open
    gap (WAL lost, no base backup since) or a recent one (lost in the last ``GAP_NOTICE_S``)."""
    now = now or timezone.now()
    stream = WalStream.objects.filter(slot_created_at__isnull=False).order_by("-slot_created_at").first()
    base = latest_verified_backup(Kind.BASEBACKUP)
    if stream is None:
        return {"enabled": False, "base_backup_at": base.snapshot_at if base else None, "wal_received_at": None}
    gap_open = bool(stream.gap_at and not (base and base.created_at >= stream.gap_at))
    # Reported for a while even when a new base backup closes it at once: detection must see it.
    gap_recent = bool(stream.gap_at and (now - stream.gap_at).total_seconds() < GAP_NOTICE_S)
    received = stream.synced_at
    return {
        "enabled": True,
        "slot": stream.slot,
        "state": stream.state,
        "base_backup_at": base.snapshot_at if base else None,
        "wal_received_at": received,
        "lag_s": round((now - received).total_seconds(), 1) if received else None,
        "slot_lag_bytes": stream.lag_bytes,
        "gap_open": gap_open,
        "gap_at": stream.gap_at,
        "gap_recent": gap_recent,
        "gap_detail": stream.gap_detail if gap_open or gap_recent else "",
        "detail": stream.detail,
    }


def _pitr_anchor(pitr: dict):
    """The moment a PITR restore reaches now, if it can: WAL received after a verified base backup, no gap."""
    if not pitr["enabled"] or pitr["gap_open"] or not pitr["base_backup_at"] or not pitr["wal_received_at"]:
        return None
    return pitr["wal_received_at"] if pitr["wal_received_at"] >= pitr["base_backup_at"] else None


def rpo_status(*, now: datetime | None = None) -> list[dict]:
    """Per data type: age of the newest verified backup holding it (its own kind, or a full
    backup; for the database also the WAL received after a verified base backup) against the RPO
    target and maximum: ok, warning (past target), breach (past maximum), unknown (no backup kind,
    or never backed up). The database row also carries ``pitr`` (see ``pitr_status``)."""
    now = now or timezone.now()
    newest = _newest_verified_snapshots()
    pitr = pitr_status(now=now)
    rows = []
    for dt in DataType.objects.all():
        holders = [dt.backup_kind, "full"] if dt.backup_kind in ("database", "config", "media") else [dt.backup_kind]
        candidates = [newest.get(kind) for kind in holders] if dt.backup_kind else []
        if dt.backup_kind == "database":
            candidates.append(_pitr_anchor(pitr))
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
            | ({"pitr": pitr} if dt.backup_kind == "database" else {})
        )
    return rows


def running_backups() -> QuerySet[Backup]:
    return Backup.objects.filter(status__in=[Status.QUEUED, Status.RUNNING]).order_by("created_at")

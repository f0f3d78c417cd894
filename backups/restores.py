"""Every write about restores: start one (or only show what it would change), execute it on a
worker with a heartbeat, and sweep restores whose worker died (their previous content put back)."""

from __future__ import annotations

import logging
import os
from datetime import UTC, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from pitchey_incidents import events, jobs
from pitchey_incidents.actors import actor_name
from pitchey_incidents.errors import DomainError, InvalidTransition

from . import manifest as mf
from . import pipeline, restore_files, targets, tasks
from .heartbeat import Heartbeat
from .models import Backup, Restore, Status
from .pauses import retention_paused
from .pitr import restore as pitr_restore
from .restore import RestoreError, database_part, location_opener, restore_database

log = logging.getLogger(__name__)
TIER_ORDER = {"local": 0, "cloud": 1, "archive": 2}


# --- start ---------------------------------------------------------------------------------------


def _check_into(into: str, force: bool) -> Path | None:
    if not into:
        return None
    path = Path(into)
    if not path.is_absolute():
        raise DomainError("must be an absolute path", field="into")
    if path.exists() and not path.is_dir():
        raise DomainError(f"{path} is not a folder", field="into")
    backups_at = Path(os.path.abspath(settings.BACKUP_DIR))
    inside = backups_at in path.parents and backups_at / ".tmp" not in path.parents  # scratch space is fine
    if path.parent == path or path == backups_at or path in backups_at.parents or inside:
        raise DomainError(f"{path} is, holds or lies inside the backup folder (BACKUP_DIR)", field="into")
    if not force and not restore_files.is_ours(path):
        raise DomainError(
            f"{path} is not empty and not under a configured target (MEDIA_DIR, CONFIG_PATHS); "
            "pass force to restore into it anyway (its content would be replaced)",
            field="force",
        )
    return path


def _check_database(backup: Backup, database_url: str, dry_run: bool, parts: list[str]) -> list[str]:
    """A note when a full backup's database part is left alone (no ``database_url``)."""
    has_database = any(p["part"] == "database" for p in mf.stored_parts(backup.manifest))
    if parts and "database" not in parts:
        if database_url:
            raise DomainError("the database part is not among the parts to restore", field="database_url")
        return []
    if backup.kind == "database" and not database_url and not dry_run:
        raise DomainError("required for a database backup: an existing, empty database", field="database_url")
    if database_url and not has_database:
        raise DomainError(f"a {backup.kind} backup holds no database", field="database_url")
    if has_database and not database_url and backup.kind != "database":
        return ["database: not restored (give database_url: an existing, empty database)"]
    return []


def _plan(backup: Backup, into: Path | None, parts: list[str]) -> tuple[list[restore_files.Destination], list[str]]:
    unknown = sorted(set(parts) - {p["part"] for p in mf.stored_parts(backup.manifest)})
    if unknown:
        raise DomainError(f"backup {backup.id} has no {', '.join(unknown)} part", field="parts")
    dests, notes = restore_files.destinations(backup.manifest, into=into, only=parts)
    if not dests and restore_files.file_parts(backup.manifest, parts) and (backup.kind != "full" or parts):
        raise DomainError("nothing to restore into: " + ("; ".join(notes) or "no target configured"), field="into")
    return dests, notes


def _checked(
    backup: Backup, *, into: str, database_url: str, dry_run: bool, force: bool, parts: list[str]
) -> tuple[Path | None, list[restore_files.Destination], list[str]]:
    """The request checked: where the files go, and notes on what is left alone; or a DomainError."""
    if backup.status != Status.SUCCEEDED or not backup.locations.exists():
        raise InvalidTransition(
            "only a succeeded backup with a stored copy can be restored", current_status=backup.status
        )
    path = _check_into(into, force)
    skipped = _check_database(backup, database_url, dry_run, parts)
    dests, notes = _plan(backup, path, parts)
    return path, dests, notes + skipped


def restore_start(
    *,
    backup: Backup,
    actor: object,
    into: str = "",
    database_url: str = "",
    dry_run: bool = False,
    force: bool = False,
    parts: list[str] | None = None,
    inline: bool = False,
) -> Restore:
    """Queue a restore of ``backup`` (run on a worker, or here with ``inline``). A dry run is
    answered at once: the restore row lists what would be added, replaced and removed."""
    parts = list(parts or [])
    path, dests, notes = _checked(
        backup, into=into, database_url=database_url, dry_run=dry_run, force=force, parts=parts
    )
    with transaction.atomic():
        row = Restore.objects.create(
            backup=backup,
            kind=backup.kind,
            dry_run=dry_run,
            force=force,
            into=str(path or ""),
            parts=parts,
            database_url="" if dry_run else database_url,
            requested_by=actor_name(actor),
            changes=restore_files.changes(dests),
            detail="; ".join(notes),
        )
        _audit(row)
        if dry_run:
            _finish_dry_run(row, backup, database_url)
        else:
            events.emit("restore.queued", row.subject, _brief(row))
            jobs.dispatch(tasks.restore_run, row.id, inline=inline)
    row.refresh_from_db()
    return row


def _audit(row: Restore) -> None:
    events.audit(
        actor=row.requested_by,
        action="backup.restore",
        target=row.subject,
        dry_run=row.dry_run,
        data={"backup": row.backup_id, "into": row.into, "force": row.force, "changes": _counts(row.changes)},
    )


def _finish_dry_run(row: Restore, backup: Backup, database_url: str) -> None:
    detail = [row.detail] if row.detail else []
    if any(p["part"] == "database" for p in mf.stored_parts(backup.manifest)) and "database" in (
        row.parts or ["database"]
    ):
        tables = database_part(backup.manifest).get("tables", {})
        where = targets.redact_url(database_url) if database_url else "a database given with database_url"
        detail.append(f"database: {len(tables)} tables, {sum(tables.values())} rows would be restored into {where}")
    now = timezone.now()
    Restore.objects.filter(id=row.id).update(
        status=Status.SUCCEEDED, started_at=now, finished_at=now, detail="; ".join(detail)
    )


def _counts(changes: dict) -> dict:
    return {k: len(v) for k, v in changes.items()}


def _brief(row: Restore) -> dict:
    return {"restore": row.id, "backup": row.backup_id, "kind": row.kind, "status": row.status}


def pitr_restore_start(*, to_time: str, actor: object, port: int | None = None, inline: bool = False) -> Restore:
    """Queue a point-in-time restore of the PITR target: the newest base backup before ``to_time``
    (ISO 8601, UTC unless it says otherwise, or ``latest``) and the WAL since, brought up by a worker
    in a new data directory on ``port`` (a free one if not given), followed like any restore."""
    try:
        target = pitr_restore.parse_target(to_time)
    except ValueError as exc:
        raise DomainError(str(exc), field="to_time") from None
    if port is not None and not 1024 <= port <= 65535:
        raise DomainError("must be between 1024 and 65535", field="port")
    try:
        base = pitr_restore.base_backup_for(target)
    except RestoreError as exc:
        raise DomainError(str(exc), field="to_time") from None
    with transaction.atomic():
        row = Restore.objects.create(
            backup=base,
            kind=base.kind,
            to_time=target.astimezone(UTC).isoformat() if target else "latest",
            port=port,
            requested_by=actor_name(actor),
        )
        events.audit(
            actor=row.requested_by,
            action="backup.pitr_restore",
            target=row.subject,
            data={"to_time": row.to_time, "base_backup": base.id, "port": port},
        )
        events.emit("restore.queued", row.subject, _brief(row))
        jobs.dispatch(tasks.restore_run, row.id, inline=inline)
    row.refresh_from_db()
    return row


def restore_preview(backup: Backup) -> list[str]:
    """What restoring ``backup`` to its configured targets would do, part by part, in words for the
    confirmation a person reads before starting it."""
    said = []
    dests, notes = restore_files.destinations(backup.manifest, into=None)
    for dest in dests:
        what = "file" if dest.is_file else "folder"
        said.append(f"{dest.part['part']}: replaces the {what} {dest.path} (kept as it is until the copy verifies)")
    if any(p["part"] == "database" for p in mf.stored_parts(backup.manifest)):
        tables = database_part(backup.manifest).get("tables", {})
        rows = sum(tables.values())
        said.append(f"database: {len(tables)} tables, {rows} rows into the database you give (existing, empty)")
    return said + notes


# --- execute -------------------------------------------------------------------------------------


class _Heartbeat(Heartbeat):
    """Writes the restore's heartbeat and progress twice a second; the sweeper fails a restore
    whose heartbeat stops."""

    def __init__(self, restore_id: int, reporter: pipeline.Reporter):
        super().__init__(f"restore {restore_id}", name=f"restore-{restore_id}-heartbeat")
        self.restore_id, self.reporter = restore_id, reporter
        self.last: dict | None = None

    def beat(self) -> bool:
        snap = self.reporter.snapshot()
        Restore.objects.filter(id=self.restore_id, status=Status.RUNNING).update(
            heartbeat_at=timezone.now(), progress=snap
        )
        if snap != self.last:  # the live pages follow the event log
            events.emit("restore.progress", f"restore:{self.restore_id}", {"restore": self.restore_id, **snap})
            self.last = snap
        return True


def _claim(restore_id: int) -> Restore | None:
    now = timezone.now()
    with transaction.atomic():
        if not Restore.objects.filter(id=restore_id, status=Status.QUEUED).update(
            status=Status.RUNNING, started_at=now, heartbeat_at=now
        ):
            return None
        row = Restore.objects.select_related("backup").get(id=restore_id)
        events.emit("restore.running", row.subject, _brief(row))
    return row


def copies(backup: Backup) -> list[tuple[str, restore_files.Opener]]:
    """Every stored copy of a backup, local first, as (tier, opener)."""
    locations = sorted(backup.locations.all(), key=lambda loc: TIER_ORDER.get(loc.tier, 9))
    return [(loc.tier, location_opener(loc)) for loc in locations]


def restore_execute(*, restore_id: int) -> str:
    """Run a queued restore once; ``done``, or ``skipped`` when it is not queued (any more)."""
    row = _claim(restore_id)
    if row is None:
        return "skipped"
    reporter = pipeline.Reporter(max_bytes_per_s=settings.BACKUP_MAX_BYTES_PER_S)
    heartbeat = _Heartbeat(row.id, reporter)
    heartbeat.start()
    try:
        with retention_paused(f"restore {row.id} of backup {row.backup_id}"):
            result, error = _perform(row, reporter), ""
    except Exception as exc:  # any failure is the restore's outcome, in one line
        result, error = {}, (str(exc) if isinstance(exc, RestoreError) else f"{exc.__class__.__name__}: {exc}")
        log.warning("restore %s failed: %s", row.id, error)
    finally:
        heartbeat.stop()
    _finish(row, result=result, error=error.splitlines()[0][:2000] if error else "")
    return "done"


def _journal(row: Restore):
    def save(entries: list[dict]) -> None:
        Restore.objects.filter(id=row.id).update(journal=entries)

    return save


def _perform(row: Restore, reporter: pipeline.Reporter) -> dict:
    """The database part (into ``database_url``), then every file part; returns what was restored.
    A point-in-time restore brings up a new server instead."""
    if row.to_time:
        target = pitr_restore.parse_target(row.to_time)
        return pitr_restore.restore_to_time(to_time=target, port=row.port, reporter=reporter)
    result: dict = {}
    if row.database_url:
        reporter.start("database")
        tables = restore_database(backup=row.backup, database_url=row.database_url)
        result["database"] = {"tables": len(tables["tables"]), "rows": sum(tables["tables"].values())}
    into = Path(row.into) if row.into else None
    dests, _ = restore_files.destinations(row.backup.manifest, into=into, only=row.parts)
    if dests:
        job = restore_files.FileRestore(row.backup.manifest, dests, f"{row.id}", _journal(row), reporter)
        result["files"] = job.run(copies(row.backup))
    return result


def _finish(row: Restore, *, result: dict, error: str) -> None:
    now = timezone.now()
    ok = not error
    detail = _describe(result, row.detail) if ok else error
    with transaction.atomic():
        updated = Restore.objects.filter(id=row.id, status=Status.RUNNING).update(
            status=Status.SUCCEEDED if ok else Status.FAILED,
            finished_at=now,
            result=result,
            detail=detail[:4000],
            error=error,
            database_url="",
            journal=[],
        )
        if updated:
            row.refresh_from_db()
            events.emit("restore.succeeded" if ok else "restore.failed", row.subject, _brief(row) | {"detail": detail})


def _describe(result: dict, notes: str) -> str:
    if "url" in result:  # a point-in-time restore: where the new server runs, and how to stop it
        return f"{result['detail']}; running at {result['url']} (stop: {result['stop']})"
    said = []
    if "database" in result:
        said.append(f"database: {result['database']['tables']} tables, {result['database']['rows']} rows")
    if "files" in result:
        said.append(f"{result['files']['files']} files restored from {', '.join(result['files']['tiers'])}")
    return "; ".join(said + ([notes] if notes else [])) or "nothing to restore"


# --- sweeper -------------------------------------------------------------------------------------


def restores_sweep(*, heartbeat_timeout_s: int | None = None, queued_after_s: int = 60) -> dict:
    """Fail running restores whose heartbeat stopped: each destination they were replacing gets
    its previous content back and no extracted file stays; re-dispatch queued ones never delivered."""
    timeout = heartbeat_timeout_s if heartbeat_timeout_s is not None else settings.BACKUP_HEARTBEAT_TIMEOUT_S
    now = timezone.now()
    stale = now - timedelta(seconds=timeout)
    failed = 0
    for row in Restore.objects.filter(status=Status.RUNNING, heartbeat_at__lt=stale):
        undone = [restore_files.rollback(entry) for entry in row.journal]
        error = "worker lost: heartbeat stopped; " + ("; ".join(undone) or "nothing had been changed")
        with transaction.atomic():
            lost = Restore.objects.filter(id=row.id, status=Status.RUNNING, heartbeat_at__lt=stale)
            fields = {"error": error[:2000], "detail": error[:4000], "journal": [], "database_url": ""}
            if lost.update(status=Status.FAILED, finished_at=now, **fields):
                failed += 1
                events.emit("restore.failed", row.subject, _brief(row) | {"status": "failed", "detail": error})
    queued = Restore.objects.filter(status=Status.QUEUED, created_at__lt=now - timedelta(seconds=queued_after_s))
    resent = list(queued.values_list("id", flat=True)[:100])
    for restore_id in resent:
        jobs.send(tasks.restore_run, restore_id)
    return {"failed": failed, "redispatched": len(resent)}

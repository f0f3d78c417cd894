"""Restores as recovery actions: check files against the newest verified backup, restore its copy
into the target, and (drills) restore each kind into scratch and compare it with the manifest.

The copy used is the newest verified backup holding the kind: one of that kind, or the matching
part of a full backup. Every outcome names the backup and its snapshot, so the run measures RPO."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3

from django.conf import settings

from backups import manifest as mf
from backups import restore, restore_files, restores, selectors, services, verify

from .base import Outcome, Provider, register

DATA_TYPES = {"database": "database", "config": "config", "media": "media", "sessions": "sessions"}


def _newest(kind: str):
    return selectors.latest_verified_holding(kind)


def _none_yet(kind: str) -> Outcome:
    if kind == "sessions" and not settings.TARGET_REDIS_URL:  # no session store is protected: nothing to prove
        return Outcome(True, "no User Sessions backup: no session store is protected (TARGET_REDIS_URL is not set)")
    return Outcome(False, f"no verified backup holding {kind} yet: take one (manage.py backup {kind})", skipped=True)


def _described(backup, kind: str) -> dict:
    return {"backup": backup.id, "snapshot_at": backup.snapshot_at.isoformat(), "data_type": DATA_TYPES[kind]}


def _part(backup, kind: str) -> dict:
    return next(p for p in mf.stored_parts(backup.manifest) if p["part"] == kind)


def _missing(backup, kind: str) -> tuple[int, int, list[str]]:
    """(files the backup holds for the target, how many are missing from it now, a few of them)."""
    dests, _ = restore_files.destinations({"parts": [_part(backup, kind)]}, into=None)
    expected = missing = 0
    sample: list[str] = []
    for dest in dests:
        present = restore_files.present_files(dest)
        gone = sorted(set(dest.expected) - set(present))
        expected += len(dest.expected)
        missing += len(gone)
        sample += [str(dest.path / rel) if rel else str(dest.path) for rel in gone[:3]]
    return expected, missing, sample[:3]


@register
class Restore(Provider):
    name = "restore"
    label = "Restores"
    idempotent = frozenset({"check", "latest", "scratch", "intact"})

    def do_check(self, *, dry_run: bool, kind: str = "media") -> Outcome:
        """The target still holds every file of the newest verified backup (files changed since are fine)."""
        backup = _newest(kind)
        if backup is None:
            return _none_yet(kind)
        expected, missing, sample = _missing(backup, kind)
        if not expected:
            return Outcome(False, f"nothing of backup #{backup.id} maps to a {kind} target here", skipped=True)
        data = {"backup": backup.id, "files": expected, "missing": missing}
        if missing:
            return Outcome(False, f"{missing} of {expected} {kind} files missing ({', '.join(sample)})", data)
        return Outcome(True, f"all {expected} {kind} files of backup #{backup.id} present", data)

    def do_latest(self, *, dry_run: bool, kind: str = "media") -> Outcome:
        """Restore the newest verified copy of ``kind`` into its target (the previous content kept
        aside until the restored files verify)."""
        backup = _newest(kind)
        if backup is None:
            return Outcome(False, f"no verified backup holding {kind} to restore")
        row = restores.restore_start(backup=backup, actor="recovery", parts=[kind], dry_run=dry_run, inline=True)
        row.refresh_from_db()
        counts = ", ".join(f"{len(row.changes.get(c, []))} {c}" for c in ("added", "replaced", "removed"))
        data = _described(backup, kind) | {"restore": row.id, "changes": {c: len(v) for c, v in row.changes.items()}}
        if dry_run:
            return Outcome(True, f"would restore {kind} from backup #{backup.id}: {counts}", data)
        if row.status != "succeeded":
            return Outcome(False, f"restore #{row.id} of backup #{backup.id} failed: {row.error}", data)
        return Outcome(True, f"restored {kind} from backup #{backup.id} (restore #{row.id}): {counts}", data)

    def do_intact(self, *, dry_run: bool, kind: str = "media") -> Outcome:
        """The stored copy of the newest verified backup holding ``kind`` still matches its manifest."""
        backup = _newest(kind)
        if backup is None:
            return _none_yet(kind)
        try:
            chosen = restore_files.choose_copies([_part(backup, kind)], restores.copies(backup))
        except Exception as exc:  # no intact copy: the message names each copy's fault
            return Outcome(False, str(exc))
        tier = next(iter(chosen.values()))[0]
        return Outcome(True, f"backup #{backup.id}: the {tier} copy of its {kind} part matches the manifest")

    def do_scratch(self, *, dry_run: bool, kind: str = "database") -> Outcome:
        """Drill: restore the newest verified copy of ``kind`` into scratch (a scratch database, a
        scratch SQLite file, a scratch folder, a scratch Redis) and compare it with the manifest."""
        backup = _newest(kind)
        if backup is None:
            return _none_yet(kind)
        if dry_run:
            return Outcome(True, f"would restore {kind} of backup #{backup.id} into scratch", _described(backup, kind))
        scratch = {"database": _scratch_database, "sessions": _scratch_sessions}.get(kind, _scratch_files)
        ok, said, data = scratch(backup, kind)
        return Outcome(ok, f"backup #{backup.id}: {said}", _described(backup, kind) | data)


def _scratch_database(backup, kind: str) -> tuple[bool, str, dict]:
    """Into a scratch PostgreSQL database on the target's cluster, or a scratch SQLite file; row
    counts compared table by table with the manifest's."""
    part = restore.database_part(backup.manifest)
    with services.retention_paused(f"drill restore of backup {backup.id}"):
        if part["format"] == "sqlite":
            work = restore.temp_dir("drill")
            try:
                result = restore.restore_database(backup=backup, database_url=f"sqlite:///{work / 'scratch.sqlite3'}")
                with contextlib.closing(sqlite3.connect(work / "scratch.sqlite3")) as conn:
                    integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
            finally:
                shutil.rmtree(work, ignore_errors=True)
            if integrity != "ok":
                return False, f"scratch SQLite file: integrity_check {integrity}", {}
            where = "a scratch SQLite file"
        else:
            with restore.scratch_database() as url:
                result = restore.restore_database(backup=backup, database_url=url)
            where = "a scratch database"
    return _compared(part, result, where, verify)


def _compared(part: dict, result: dict, where: str, verify) -> tuple[bool, str, dict]:
    tables = result["tables"]
    data = {"tables": len(tables), "rows": sum(tables.values()), "duration_s": result.get("duration_s")}
    try:
        said = verify.compare_tables(part, result)
    except verify.CheckFailed as exc:
        return False, f"restored into {where}, but {exc}", data
    return True, f"restored into {where}: {said}", data


def _scratch_files(backup, kind: str) -> tuple[bool, str, dict]:
    """Into a scratch folder on the backup volume; the file list and every SHA-256 compared."""
    work = restore.temp_dir("drill")
    try:
        row = restores.restore_start(backup=backup, actor="drill", into=str(work), parts=[kind], inline=True)
        row.refresh_from_db()
        if row.status != "succeeded":
            return False, f"restore #{row.id} into scratch failed: {row.error}", {"restore": row.id}
        dest = restore_files.destinations({"parts": [_part(backup, kind)]}, into=work)[0][0]
        expected, present = dest.expected, restore_files.present_files(dest)
        wrong = sorted(r for r in expected if r not in present or restore.file_sha256(present[r]) != expected[r])
        extra = sorted(set(present) - set(expected))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    data = {"restore": row.id, "files": len(expected), "differ": len(wrong), "extra": len(extra)}
    if wrong or extra:
        return False, f"{len(wrong)} file(s) differ from the manifest, {len(extra)} not in it", data
    return True, f"{len(expected)} {kind} files restored into scratch, file list and every SHA-256 match", data


def _scratch_sessions(backup, kind: str) -> tuple[bool, str, dict]:
    """Loaded into a scratch redis-server on a free port; key counts compared with the manifest's."""
    tier, opener = restores.copies(backup)[0]
    stored = mf.for_tier(backup.manifest, tier)  # as that tier stores it (encrypted there or not)
    check = verify.verify(stored, opener, depth="restore", skip=("decompress", "list"))
    restored = next((c for c in check["checks"] if c["check"] == "restore"), None)
    ok = check["ok"] and restored is not None
    return ok, (restored or {}).get("detail", check["detail"]), {}

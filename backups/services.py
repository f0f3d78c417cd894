"""Every write about backups: start, execute, verify, prune, sweep, pause retention, import."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from pitchey_incidents import events, jobs
from pitchey_incidents.actors import actor_name
from pitchey_incidents.errors import DomainError, InvalidTransition

from . import manifest as mf
from . import pipeline, targets, tasks, verify
from .defaults import POLICIES
from .engines import BackupFailed, Context, engines_for
from .heartbeat import Heartbeat
from .models import Backup, BackupLocation, BackupPolicy, Kind, RetentionPause, Status, TargetLock, Tier, Trigger
from .pauses import retention_paused
from .restore import location_opener
from .storage import Locked, Storage, configured_tiers, crypto, for_location
from .storage.s3 import describe_lock

log = logging.getLogger(__name__)

# Callables called with the Reporter on every progress step (the CLI's progress bar listens here).
progress_listeners: list[Callable[[pipeline.Reporter], None]] = []


def _policy(kind: str) -> BackupPolicy:

    policy = BackupPolicy.objects.filter(kind=kind).first()
    if policy:
        return policy
    _, every, local, cloud, archive = next(p for p in POLICIES if p[0] == kind)
    return BackupPolicy(kind=kind, every_s=every, local_days=local, cloud_days=cloud, archive_days=archive)


def backup_dir() -> Path:
    return Path(settings.BACKUP_DIR)


def workdir_for(backup: Backup) -> Path:
    return backup_dir() / ".tmp" / f"backup-{backup.id}"


def stem_for(backup: Backup) -> str:
    return mf.stem(backup.kind, backup.created_at, backup.id)


# --- start ---------------------------------------------------------------------------------------


def backup_start(
    *,
    kind: str,
    actor: object,
    trigger: str = Trigger.MANUAL,
    inline: bool = False,
    compression: str | None = None,
    level: int | None = None,
) -> Backup:
    """Queue a backup of ``kind`` and run it on a worker (or here, with ``inline``)."""
    if kind not in Kind.values or kind == Kind.WAL:
        takeable = [k for k in Kind.values if k != Kind.WAL]
        raise DomainError(f"must be one of {', '.join(takeable)}", field="kind")
    if trigger not in Trigger.values:
        raise DomainError(f"must be one of {', '.join(Trigger.values)}", field="trigger")
    policy = _policy(kind)
    compression = compression or policy.compression
    if compression not in pipeline.CODECS:
        raise DomainError("must be zstd or gzip", field="compression")
    level = policy.level if level is None else level
    if level not in pipeline.LEVELS[compression]:
        raise DomainError(f"out of range for {compression}", field="level")

    with transaction.atomic():
        backup = Backup.objects.create(
            kind=kind,
            trigger=trigger,
            requested_by=actor_name(actor),
            compression=compression,
            compression_level=level,
        )
        events.emit("backup.queued", backup.subject, {"backup": backup.id, "kind": kind, "trigger": trigger})
        jobs.dispatch(tasks.backup_run, backup.id, inline=inline)
    if inline:
        backup.refresh_from_db()
    return backup


# --- execute -------------------------------------------------------------------------------------


class _Heartbeat(Heartbeat):
    """Writes the heartbeat and progress at most twice a second from its own connection, and tells the
    live view when the progress moved; stops (``lost``) when the backup is no longer running."""

    def __init__(self, backup_id: int, reporter: pipeline.Reporter, subject: str):
        super().__init__(f"backup {backup_id}", name=f"backup-{backup_id}-heartbeat")
        self.backup_id, self.reporter, self.subject = backup_id, reporter, subject
        self.lost = False
        self.last = None

    def beat(self) -> bool:
        snap = self.reporter.snapshot()
        alive = Backup.objects.filter(id=self.backup_id, status=Status.RUNNING).update(
            heartbeat_at=timezone.now(), progress=snap
        )
        if not alive:
            self.lost = True
            return False
        if snap != self.last:
            events.emit("backup.progress", self.subject, {"backup": self.backup_id, **snap})
            self.last = snap
        return True


def _claim(backup_id: int) -> Backup | None | str:
    """queued → running, holding a lock on every target; ``"busy"`` when a target is held."""
    try:
        with transaction.atomic():
            claimed = Backup.objects.filter(id=backup_id, status=Status.QUEUED).update(status=Status.RUNNING, error="")
            if not claimed:
                return None
            backup = Backup.objects.get(id=backup_id)
            for key in targets.target_keys(backup.kind):
                TargetLock.objects.create(target=key[:255], backup=backup)
            # Stamped once every lock is held: one that waited for a finishing backup's lock starts after it.
            backup.started_at = backup.heartbeat_at = timezone.now()
            backup.save(update_fields=["started_at", "heartbeat_at"])
            events.emit("backup.running", backup.subject, {"backup": backup.id, "kind": backup.kind})
            return backup
    except IntegrityError:
        return "busy"


def backup_execute(*, backup_id: int) -> str:
    """Run a queued backup once. Returns ``done``, ``busy`` (a backup of the same target runs;
    this one stays queued) or ``skipped`` (not queued: another worker has it, or it ran).

    1. Claim it and lock its targets. 2. Run each engine into a work folder on the backup volume;
    finished files are fsynced and renamed into ``BACKUP_DIR/<kind>/``. 3. Write the manifest.
    4. Verify the local copy (checksum, decompression, table of contents). 5. Copy to the other
    tiers, verifying each copy. 6. Succeed, or fail and remove every file written."""
    claimed = _claim(backup_id)
    if claimed is None or claimed == "busy":
        return claimed or "skipped"
    backup = claimed
    reporter = pipeline.Reporter(max_bytes_per_s=settings.BACKUP_MAX_BYTES_PER_S)
    heartbeat = _Heartbeat(backup.id, reporter, backup.subject)

    def abort_if_lost(_r):
        if heartbeat.lost:
            raise BackupFailed("marked failed while running (heartbeat lost)")

    reporter.listeners[:] = [abort_if_lost, *progress_listeners]
    heartbeat.start()
    try:
        _run(backup, reporter)
        ok, error = True, ""
    except Exception as exc:  # any failure is the backup's outcome, recorded in one line
        ok, error = False, (f"{exc}" if isinstance(exc, BackupFailed) else f"{exc.__class__.__name__}: {exc}")
        log.warning("backup %s failed: %s", backup.id, error)
    finally:
        heartbeat.stop()
        shutil.rmtree(workdir_for(backup), ignore_errors=True)
    _finish(backup, ok=ok, error=error.splitlines()[0][:2000] if error else "", reporter=reporter)
    return "done"


def _run(backup: Backup, reporter: pipeline.Reporter) -> None:
    """Steps 2 to 5 of ``backup_execute``: engines, manifest, local verification, other tiers."""
    ctx, parts = _run_engines(backup, reporter)
    _store(backup, ctx, parts, reporter)


def _store(backup: Backup, ctx: Context, parts: list[dict], reporter: pipeline.Reporter) -> None:
    """Steps 3 to 5: manifest, local verification, copies in the other tiers. Where tiers have age
    recipients, the compressed files are checked first, then encrypted for them."""
    tiers = configured_tiers()
    groups = _recipient_groups(tiers)
    if any("local" in group for group in groups.values()):
        _verify_compressed(_manifest(backup, ctx, parts), ctx.outdir, reporter)
    sources = _encrypt(parts, ctx, groups, reporter) if groups else {}
    manifest = _write_manifest(backup, ctx, parts)
    _verify_local(backup, manifest, tiers["local"], reporter)
    for tier, storage in tiers.items():
        if tier != "local":
            _copy_to_tier(backup, manifest, ctx, tier, storage, reporter, sources)


def _recipient_groups(tiers: dict[str, Storage]) -> dict[tuple[str, ...], list[str]]:
    """Tiers by the age recipients their copies are encrypted to (tiers stored as is left out)."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for tier in tiers:
        recipients = tuple(crypto.recipients_for(tier))
        if recipients:
            groups.setdefault(recipients, []).append(tier)
    return groups


def _verify_compressed(manifest: dict, folder: Path, reporter: pipeline.Reporter) -> None:
    """Before the local files are encrypted (and the compressed ones gone): the checks that a new
    backup's local copy gets (size, SHA-256, table of contents)."""
    result = verify.verify(
        manifest, lambda name: open(folder / name, "rb"), depth="list", reporter=reporter, skip=("decompress",)
    )
    if not result["ok"]:
        raise BackupFailed(f"verification failed: {result['detail']}")


def _encrypt(
    parts: list[dict], ctx: Context, groups: dict[tuple[str, ...], list[str]], reporter: pipeline.Reporter
) -> dict[tuple[str, str], Path]:
    """Encrypt every stored file once per set of recipients (streamed; see ``storage.crypto``), into
    the backup's folder for the local tier, into the work folder for the others. Records each
    tier's file in its part (``encrypted``); returns where each (tier, file) is to be read from."""
    sources: dict[tuple[str, str], Path] = {}
    for recipients, group in groups.items():
        folder = ctx.outdir if "local" in group else ctx.workdir / f"age-{crypto.fingerprint(';'.join(recipients))}"
        for part in mf.stored_parts({"parts": parts}):
            reporter.start(f"encrypt {'+'.join(group)}", part["size"])
            stored = crypto.encrypt_file(
                ctx.outdir / part["file"],
                folder / (part["file"] + crypto.SUFFIX),
                list(recipients),
                tmp_dir=ctx.workdir,
                expect_sha256=part["sha256"],
            )
            reporter.set(part["size"])
            for tier in group:
                part.setdefault("encrypted", {})[tier] = stored | {"encryption": crypto.describe(list(recipients))}
                sources[(tier, stored["file"])] = folder / stored["file"]
    if any("local" in group for group in groups.values()):
        for part in mf.stored_parts({"parts": parts}):  # only the encrypted copy stays on this disk
            shutil.move(ctx.outdir / part["file"], ctx.workdir / part["file"])
    return sources


def _run_engines(backup: Backup, reporter: pipeline.Reporter) -> tuple[Context, list[dict]]:
    """Each engine of the kind writes its files; returns the context (what they found out on the
    way) and the parts they wrote."""
    work = workdir_for(backup)
    work.mkdir(parents=True, exist_ok=True)
    ctx = Context(
        workdir=work,
        outdir=backup_dir() / backup.kind,
        stem=stem_for(backup),
        compression=backup.compression,
        level=backup.compression_level,
        reporter=reporter,
    )
    parts: list[dict] = []
    for engine in engines_for(backup.kind):
        parts += engine.run(ctx)
    return ctx, parts


def _manifest(backup: Backup, ctx: Context, parts: list[dict]) -> dict:
    stored = mf.stored_parts({"parts": parts})
    finished = timezone.now()
    policy = _policy(backup.kind)
    primary = stored[0]
    manifest = {
        "manifest_version": mf.MANIFEST_VERSION,
        "tool": "pitchey-incidents",
        "id": backup.id,
        "uuid": str(backup.uuid),
        "kind": backup.kind,
        "trigger": backup.trigger,
        "requested_by": backup.requested_by,
        "started_at": backup.started_at.isoformat(),
        "finished_at": finished.isoformat(),
        "snapshot_at": ctx.snapshot_at.isoformat() if ctx.snapshot_at else finished.isoformat(),
        "artifact": primary["file"],
        "format": primary["format"],
        "compression": backup.compression,
        "compression_level": backup.compression_level,
        "size": sum(p["size"] for p in stored),
        "sha256": primary["sha256"],
        "uncompressed_size": sum(p["uncompressed_size"] for p in stored),
        "parts": parts,
        "retention": {
            tier: {"days": policy.retention_days(tier), "expires_at": mf.expiry(finished, policy.retention_days(tier))}
            for tier in Tier.values
        },
        **ctx.info,
    }
    manifest["restore"] = mf.restore_hint(manifest)
    return manifest


def _write_manifest(backup: Backup, ctx: Context, parts: list[dict]) -> dict:
    """Write the local manifest beside the files and record it in the catalog; returns it."""
    manifest = _manifest(backup, ctx, parts)
    local = mf.dumps(mf.for_tier(manifest, "local"))  # as stored there: encrypted files named as such
    pipeline.write_atomic(ctx.outdir / mf.name_for(ctx.stem), local, tmp_dir=ctx.workdir)
    Backup.objects.filter(id=backup.id).update(
        manifest=manifest,
        artifact=manifest["artifact"],
        format=manifest["format"],
        size_bytes=manifest["size"],
        uncompressed_bytes=manifest["uncompressed_size"],
        sha256=manifest["sha256"],
        snapshot_at=manifest["snapshot_at"],
    )
    backup.refresh_from_db()
    return manifest


def _verify_local(backup: Backup, manifest: dict, storage: Storage, reporter: pipeline.Reporter) -> None:
    view = mf.for_tier(manifest, "local")
    location = BackupLocation.objects.create(
        backup=backup,
        tier="local",
        uri=storage.uri(f"{backup.kind}/{view['artifact']}"),
        expires_at=manifest["retention"]["local"]["expires_at"],
    )
    # A new backup is re-read from disk (size and SHA-256) and its table of contents read back; the
    # full decompression and the restore test run in the verification jobs (daily, or on demand).
    # An encrypted copy had its table of contents read before encryption: its own bytes are checked.
    depth = "checksum" if mf.encrypted(view) else "list"
    result = _verify_location(location, depth=depth, reporter=reporter, skip=("decompress",))
    if not result["ok"]:
        raise BackupFailed(f"verification failed: {result['detail']}")


def _copy_to_tier(
    backup: Backup,
    manifest: dict,
    ctx: Context,
    tier: str,
    storage: Storage,
    reporter: pipeline.Reporter,
    sources: dict[tuple[str, str], Path],
) -> None:
    """Upload the files (encrypted for the tier where it has recipients) and that tier's manifest,
    each locked until the copy's retention date where the tier locks, then verify the copy by size
    and SHA-256."""
    view = mf.for_tier(manifest, tier)
    expires = manifest["retention"][tier]["expires_at"]
    # Recorded before the upload, so that a failure removes whatever part of it arrived.
    location = BackupLocation.objects.create(
        backup=backup, tier=tier, uri=storage.uri(f"{backup.kind}/{view['artifact']}"), expires_at=expires
    )
    reporter.start(f"upload {tier}", view["size"])
    for name in mf.files(view):
        source = sources.get((tier, name), ctx.outdir / name)
        storage.put(source, f"{backup.kind}/{name}", reporter, retain_until=expires)
    tmp = ctx.workdir / mf.name_for(ctx.stem)
    tmp.write_bytes(mf.dumps(view))
    storage.put(tmp, f"{backup.kind}/{mf.name_for(ctx.stem)}", retain_until=expires)
    result = _verify_location(location, depth="checksum", reporter=reporter)
    if not result["ok"]:
        raise BackupFailed(f"{tier} copy failed verification: {result['detail']}")


def _finish(backup: Backup, *, ok: bool, error: str, reporter: pipeline.Reporter) -> None:
    now = timezone.now()
    with transaction.atomic():
        if ok:
            updated = Backup.objects.filter(id=backup.id, status=Status.RUNNING).update(
                status=Status.SUCCEEDED,
                finished_at=now,
                progress=reporter.snapshot() | {"phase": "done", "timings": reporter.finish()},
                verified_at=now,
            )
        else:
            updated = Backup.objects.filter(id=backup.id, status=Status.RUNNING).update(
                status=Status.FAILED, finished_at=now, error=error, progress=reporter.snapshot()
            )
        TargetLock.objects.filter(backup_id=backup.id).delete()
        backup.refresh_from_db()
        if updated and ok:
            backup.verification = _summarize(backup)
            backup.save(update_fields=["verification"])
            events.emit("backup.succeeded", backup.subject, _brief(backup))
        elif updated:
            events.emit("backup.failed", backup.subject, _brief(backup) | {"error": error})
    if not ok or not updated:
        _remove_files(backup)


def _brief(backup: Backup) -> dict:
    return {"backup": backup.id, "kind": backup.kind, "status": backup.status, "size_bytes": backup.size_bytes}


def _remove_files(backup: Backup) -> None:
    """A failed backup leaves nothing behind: no work folder, no partial or finished files, no copies."""
    shutil.rmtree(workdir_for(backup), ignore_errors=True)
    stem = stem_for(backup)
    for path in (backup_dir() / backup.kind).glob(f"{stem}.*"):
        path.unlink(missing_ok=True)
    for location in BackupLocation.objects.filter(backup=backup).exclude(tier="local"):
        try:
            _delete_copy(location)
        except Locked as exc:  # uploaded and locked before the backup failed: it stays until its date
            log.warning("backup %s: %s", backup.id, exc)
    BackupLocation.objects.filter(backup=backup).delete()


def backup_from_file(*, kind: str, src: Path, name: str, part: dict, snapshot_at: datetime, info: dict) -> Backup:
    """Store one finished file (a WAL segment) as a backup of ``kind``, through the same pipeline as
    every other backup: compressed and hashed, a manifest, verified locally, copied to every tier and
    verified there, kept by the kind's retention policy. Raises ``BackupFailed`` (nothing is left)."""
    policy = _policy(kind)
    now = timezone.now()
    backup = Backup.objects.create(
        kind=kind,
        status=Status.RUNNING,
        trigger=Trigger.SCHEDULE,
        requested_by="wal_receiver",
        started_at=now,
        heartbeat_at=now,
        compression=policy.compression,
        compression_level=policy.level,
    )
    reporter = pipeline.Reporter()
    ctx = Context(
        workdir=workdir_for(backup),
        outdir=backup_dir() / kind,
        stem=stem_for(backup),
        compression=backup.compression,
        level=backup.compression_level,
        reporter=reporter,
        snapshot_at=snapshot_at,
        info=info,
    )
    try:
        dest = ctx.outdir / f"{ctx.stem}.{name}{ctx.suffix()}"
        stored = pipeline.store_file(src, dest, tmp_dir=ctx.workdir, compression=ctx.compression, level=ctx.level)
        _store(backup, ctx, [stored.describe() | part | {"compression": ctx.compression}], reporter)
        ok, error = True, ""
    except Exception as exc:  # the file stays where it was; the caller tries again
        ok, error = False, f"{exc}"
    finally:
        shutil.rmtree(ctx.workdir, ignore_errors=True)
    _finish(backup, ok=ok, error=error.splitlines()[0][:2000] if error else "", reporter=reporter)
    if not ok:
        raise BackupFailed(f"{kind} {name}: {error}")
    return backup


# --- verify --------------------------------------------------------------------------------------


def _verify_location(
    location: BackupLocation, *, depth: str, reporter=None, scratch_url=None, skip: tuple[str, ...] = ()
) -> dict:
    result = verify.verify(
        mf.for_tier(location.backup.manifest, location.tier),
        location_opener(location),
        depth=depth,
        reporter=reporter,
        scratch_url=scratch_url,
        skip=skip,
    )
    lock = _lock_of(location)
    if lock:
        result["lock"] = lock
        result["detail"] += f"; locked: {describe_lock(lock)}" if lock["locked"] else f"; lock: {describe_lock(lock)}"
    location.verification = result
    location.verified_at = timezone.now() if result["ok"] else None
    location.save(update_fields=["verification", "verified_at"])
    return result


def _summarize(backup: Backup) -> dict:
    results = {loc.tier: loc.verification for loc in backup.locations.all()}
    failed = {t: r for t, r in results.items() if not r.get("ok")}
    ok = bool(results) and not failed
    detail = "; ".join(f"{t}: {r.get('detail', 'not verified')}" for t, r in failed.items()) or "; ".join(
        f"{t}: {r.get('detail')}" for t, r in results.items()
    )
    checked = max((r.get("checked_at") or "" for r in results.values()), default=None)
    return {"ok": ok, "checked_at": checked, "detail": detail, "tiers": results}


def backup_verify_start(*, backup: Backup, actor: object, restore_test: bool = False, inline: bool = False) -> Backup:
    if backup.status != Status.SUCCEEDED:
        raise InvalidTransition("only a succeeded backup can be verified", current_status=backup.status)

    with transaction.atomic():
        events.emit(
            "backup.verify_requested",
            backup.subject,
            {"backup": backup.id, "restore_test": restore_test, "actor": actor_name(actor)},
        )
        jobs.dispatch(tasks.backup_verify_run, backup.id, restore_test, inline=inline)
    if inline:
        backup.refresh_from_db()
    return backup


def backup_verify(*, backup_id: int, restore_test: bool = False) -> Backup:
    """Verify every stored copy: the local one in full depth (``restore`` with ``restore_test``),
    remote ones by size and SHA-256 of their bytes. A copy that fails loses its verified mark."""
    backup = Backup.objects.get(id=backup_id)
    reporter = pipeline.Reporter(listeners=list(progress_listeners))
    with retention_paused(f"verification of backup {backup_id}"):
        for location in backup.locations.all():
            depth = ("restore" if restore_test else "list") if location.tier == "local" else "checksum"
            _verify_location(location, depth=depth, reporter=reporter)
    with transaction.atomic():
        backup = Backup.objects.select_for_update().get(id=backup_id)
        backup.verification = _summarize(backup) | {"restore_test": restore_test}
        backup.verified_at = timezone.now() if backup.verification["ok"] else None
        backup.save(update_fields=["verification", "verified_at"])
        events.emit(
            "backup.verified" if backup.verification["ok"] else "backup.verification_failed",
            backup.subject,
            {"backup": backup.id, "ok": backup.verification["ok"], "detail": backup.verification["detail"][:500]},
        )
    return backup


# --- retention -----------------------------------------------------------------------------------


def retention_pauses() -> list[str]:
    return list(RetentionPause.objects.filter(expires_at__gt=timezone.now()).values_list("reason", flat=True))


def _storage_of(location: BackupLocation) -> Storage:
    return for_location(location.tier, location.uri)


def _copy_names(location: BackupLocation) -> list[str]:
    """The files of a copy as its tier stores them (encrypted ones by their own names), manifest last."""
    return mf.files(mf.for_tier(location.backup.manifest, location.tier)) + [mf.name_for(stem_for(location.backup))]


def _lock_of(location: BackupLocation) -> dict | None:
    """The S3 Object Lock on a copy's files (the one that ends last), or None."""
    storage = _storage_of(location)
    locks = []
    for name in _copy_names(location):
        try:
            lock = storage.lock(storage.sibling(location.uri, name))
        except Exception as exc:  # unreachable: the lock is unknown, so the copy counts as locked
            return {"mode": None, "retain_until": None, "legal_hold": False, "locked": True, "error": str(exc)[:200]}
        if lock:
            locks.append(lock)
    if not locks:
        return None
    return max(locks, key=lambda lock: (lock["locked"], lock["legal_hold"], lock["retain_until"] or ""))


def _delete_copy(location: BackupLocation) -> None:
    """Delete a copy's files. A locked file is never sent a DELETE: ``Locked`` is raised, and the copy stays."""
    storage = _storage_of(location)
    for name in _copy_names(location):
        try:
            storage.delete(storage.sibling(location.uri, name))
        except Locked:
            raise  # the copy stays, and so does its row
        except Exception as exc:  # already gone, or the tier is unreachable: say so, keep going
            log.warning("could not delete %s from %s: %s", name, location.tier, exc)


def prune_plan(*, now: datetime | None = None) -> list[dict]:
    """What retention would delete now: per kind and tier, copies older than the policy's days,
    ordered by their recorded snapshot time, never the newest verified copy of a kind in a tier."""
    now = now or timezone.now()
    plan = []
    for kind in Kind.values:  # basebackup before wal: the WAL a kept base backup needs stays
        policy = _policy(kind)
        for tier in Tier.values:
            days = policy.retention_days(tier)
            if days is None:
                continue  # kept indefinitely
            locations = list(_copies(kind, tier))
            newest_verified = _newest_verified(locations)
            cutoff = now - timedelta(days=days)
            needed = _wal_needed_from(tier, plan) if kind == Kind.WAL else None
            for loc in locations:
                recorded = loc.backup.snapshot_at or loc.backup.finished_at
                segment = loc.backup.manifest.get("wal", {}).get("segment", "")
                if needed and segment >= needed:
                    continue  # a base backup kept in this tier replays from it
                if recorded and recorded < cutoff and loc.id != newest_verified:
                    plan.append(
                        {
                            "location": loc.id,
                            "backup": loc.backup_id,
                            "kind": kind,
                            "tier": tier,
                            "uri": loc.uri,
                            "snapshot_at": recorded.isoformat(),
                            "retention_days": days,
                        }
                    )
    return plan


def _copies(kind: str, tier: str):
    return (
        BackupLocation.objects.filter(tier=tier, backup__kind=kind, backup__status=Status.SUCCEEDED)
        .select_related("backup")
        .order_by("-backup__snapshot_at", "-backup__id")
    )


def _newest_verified(locations: list[BackupLocation]) -> int | None:
    return next((loc.id for loc in locations if loc.verified_at and loc.backup.verified_at), None)


def _wal_needed_from(tier: str, plan: list[dict]) -> str | None:
    """The first WAL segment the oldest base backup kept in ``tier`` (not in ``plan``) needs."""
    going = {item["location"] for item in plan}
    starts = [
        loc.backup.manifest.get("pitr", {}).get("start_segment")
        for loc in BackupLocation.objects.filter(
            tier=tier, backup__kind=Kind.BASEBACKUP, backup__status=Status.SUCCEEDED
        ).select_related("backup")
        if loc.id not in going
    ]
    return min((s for s in starts if s), default=None)


def backups_prune(*, actor: object = "system", dry_run: bool = False, now: datetime | None = None) -> dict:
    """Delete what ``prune_plan`` lists (or only show it, with ``dry_run``); every deletion is audited.
    A copy under S3 Object Lock is skipped and listed with its lock (``skipped``): no DELETE is sent."""
    pauses = retention_pauses()
    if pauses:
        return {"paused": pauses, "deleted": [], "skipped": [], "dry_run": dry_run}
    plan, skipped = [], []
    for item in prune_plan(now=now):
        location = BackupLocation.objects.select_related("backup").filter(id=item["location"]).first()
        lock = _lock_of(location) if location else None
        if lock and lock["locked"]:
            skipped.append(item | {"lock": lock, "reason": f"locked: {describe_lock(lock)}"})
        elif location:
            plan.append(item)
    if skipped:
        events.audit(
            actor=actor_name(actor), action="backup.prune_skipped_locked", dry_run=dry_run, data={"skipped": skipped}
        )
    if dry_run:
        events.audit(actor=actor_name(actor), action="backup.prune", dry_run=True, data={"would_delete": plan})
        return {"paused": [], "deleted": plan, "skipped": skipped, "dry_run": True}
    deleted = []
    for item in plan:
        if retention_pauses():
            break  # a restore started meanwhile
        try:
            if _delete_planned(item, actor):
                deleted.append(item)
        except Locked as exc:  # locked since the plan was made
            skipped.append(item | {"reason": str(exc)})
    return {"paused": [], "deleted": deleted, "skipped": skipped, "dry_run": False}


def _delete_planned(item: dict, actor: object) -> bool:
    """Delete one planned copy, unless what was planned no longer holds: the copies of its kind and
    tier are locked and looked at again, so a backup that finished (or a verification that failed)
    since the plan was made never leaves the tier without its newest verified copy."""
    with transaction.atomic():
        locations = list(_copies(item["kind"], item["tier"]).select_for_update(of=("self",)))
        location = next((loc for loc in locations if loc.id == item["location"]), None)
        if location is None or location.id == _newest_verified(locations):
            return False
        _delete_copy(location)
        location.delete()
        events.audit(actor=actor_name(actor), action="backup.delete", target=item["uri"], data=item)
    return True


# --- sweeper -------------------------------------------------------------------------------------


def backups_sweep(*, heartbeat_timeout_s: int | None = None, queued_after_s: int = 60) -> dict:
    """Fail running backups whose heartbeat stopped (their worker died) and remove their files;
    re-dispatch queued ones the broker never delivered; drop stale locks and expired pauses."""

    timeout = heartbeat_timeout_s if heartbeat_timeout_s is not None else settings.BACKUP_HEARTBEAT_TIMEOUT_S
    now = timezone.now()
    lost = list(Backup.objects.filter(status=Status.RUNNING, heartbeat_at__lt=now - timedelta(seconds=timeout)))
    failed = 0
    for backup in lost:
        with transaction.atomic():
            updated = Backup.objects.filter(
                id=backup.id, status=Status.RUNNING, heartbeat_at__lt=now - timedelta(seconds=timeout)
            ).update(status=Status.FAILED, finished_at=now, error="worker lost: heartbeat stopped")
            TargetLock.objects.filter(backup_id=backup.id).delete()
            if updated:
                backup.refresh_from_db()
                events.emit("backup.failed", backup.subject, _brief(backup) | {"error": backup.error})
        if updated:
            _remove_files(backup)
            failed += 1
    TargetLock.objects.exclude(backup__status=Status.RUNNING).delete()
    RetentionPause.objects.filter(expires_at__lte=now).delete()
    stale = list(
        Backup.objects.filter(status=Status.QUEUED, created_at__lt=now - timedelta(seconds=queued_after_s)).values_list(
            "id", flat=True
        )[:100]
    )
    for backup_id in stale:
        jobs.send(tasks.backup_run, backup_id)
    return {"failed": failed, "redispatched": len(stale)}


# --- catalog rebuild -----------------------------------------------------------------------------


def backups_import(*, actor: object = "system") -> dict:
    """Rebuild catalog rows from the manifests in every configured tier (matching on uuid)."""
    created = added = 0
    for tier, storage in configured_tiers().items():
        for uri in storage.manifests():
            with storage.open(uri) as fh:
                try:
                    manifest = mf.loads(fh.read())
                except ValueError:
                    continue
            new, made = _import_manifest(manifest, tier=tier, storage=storage, uri=uri, actor=actor)
            created += new
            added += made
    if created or added:
        events.audit(actor=actor_name(actor), action="backup.import", data={"backups": created, "locations": added})
    return {"backups": created, "locations": added}


@transaction.atomic
def _import_manifest(manifest: dict, *, tier: str, storage: Storage, uri: str, actor: object) -> tuple[bool, bool]:
    """The backup a manifest describes and its copy in ``tier``: (backup created, copy added)."""
    stored_as = manifest.get("artifact")  # that tier's name of it (encrypted files have their own)
    manifest = mf.master(manifest)
    backup, new = Backup.objects.get_or_create(
        uuid=manifest["uuid"],
        defaults={
            "kind": manifest["kind"],
            "status": Status.SUCCEEDED,
            "trigger": Trigger.IMPORT,
            "requested_by": actor_name(actor),
            "started_at": manifest["started_at"],
            "finished_at": manifest["finished_at"],
            "snapshot_at": manifest["snapshot_at"],
            "artifact": manifest["artifact"],
            "format": manifest["format"],
            "size_bytes": manifest["size"],
            "uncompressed_bytes": manifest["uncompressed_size"],
            "sha256": manifest["sha256"],
            "compression": manifest["compression"],
            "compression_level": manifest["compression_level"],
            "manifest": {k: v for k, v in manifest.items() if k not in ("tier", "expires_at")},
        },
    )
    _, made = BackupLocation.objects.get_or_create(
        backup=backup,
        tier=tier,
        defaults={
            "uri": storage.sibling(uri, stored_as),
            "expires_at": manifest.get("retention", {}).get(tier, {}).get("expires_at"),
        },
    )
    return new, made

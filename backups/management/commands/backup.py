from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from django.core.management.base import CommandError
from django_celery_beat.models import PeriodicTask

from pitchey_incidents.cli import DomainCommand, cli_actor
from pitchey_incidents.timefmt import format_duration, format_timestamp

from ... import selectors, services
from ...models import Backup, Kind, Status
from ...pitr.restore import parse_target, restore_to_time, stop_restored
from ...restore import RestoreError, restore_database
from ...restores import restore_start
from ...storage import crypto
from ...storage.s3 import describe_lock
from ...verify import verify_path


class ProgressBar:
    """A one-line progress bar on stderr, drawn only on a terminal."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.last = 0.0
        self.shown = False

    def __call__(self, reporter) -> None:
        now = time.monotonic()
        if now - self.last < 0.1:
            return
        self.last = now
        snap = reporter.snapshot()
        width = 30
        filled = int(width * (snap["percent"] or 0) / 100)
        total = f"/{_mb(snap['total_bytes'])}" if snap["total_bytes"] else ""
        pct = f"{snap['percent']:5.1f}%" if snap["percent"] is not None else "  ...  "
        self.stream.write(
            f"\r{snap['phase'][:16]:<16} [{'#' * filled}{' ' * (width - filled)}] {pct} "
            f"{_mb(snap['done_bytes'])}{total}   "
        )
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _show(backup: Backup) -> str:
    size = _mb(backup.size_bytes) if backup.size_bytes is not None else "-"
    tiers = ",".join(loc.tier for loc in backup.locations.all()) or "-"
    verified = "verified" if backup.verified_at else "unverified"
    when = backup.snapshot_at or backup.created_at
    return (
        f"{backup.id:>5}  {backup.kind:<8}  {backup.status:<9}  {format_timestamp(when)}  "
        f"{size:>10}  {verified:<10}  {tiers}"
    )


class Command(DomainCommand):
    help = "Backups: take, verify, list, prune, show schedules (the runbook's backup-automation.sh)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True, parser_class=type(parser))
        for kind in (k for k in Kind.values if k != Kind.WAL):  # WAL segments are shipped by wal_receiver
            p = sub.add_parser(kind, help=f"Take a {kind} backup")
            p.add_argument("--inline", action="store_true", help="Run here instead of on a worker")
            p.add_argument("--compression", choices=["zstd", "gzip"])
            p.add_argument("--level", type=int)
            p.add_argument("--json", action="store_true")
        v = sub.add_parser("verify", help="Verify a backup file (with its manifest) or a catalog id")
        v.add_argument("target", help="PATH of a backup file or manifest, or a backup ID")
        v.add_argument("--restore-test", action="store_true", help="Also restore it into a scratch database")
        v.add_argument("--json", action="store_true")
        v.add_argument("--identity", help="age identity file to decrypt with (default BACKUP_AGE_IDENTITY_FILE)")
        sub.add_parser("test", help="Take a database backup and prove it restores (the runbook's test)")
        lst = sub.add_parser("list", help="List backups, newest first")
        lst.add_argument("--kind", choices=Kind.values)
        lst.add_argument("--json", action="store_true")
        pr = sub.add_parser("prune", help="Apply the retention policy")
        pr.add_argument("--dry-run", action="store_true", help="Only show what would be deleted")
        sch = sub.add_parser("schedule", help="Show the backup schedules (the runbook's setup-cron)")
        sch.add_argument("--json", action="store_true")
        sub.add_parser("import", help="Rebuild the catalog from the manifests in every tier")
        _restore_arguments(sub)
        sub.add_parser("sweep", help="Fail backups whose worker died; clean their files")

    def handle(self, *args, verb, **opts):
        if verb in Kind.values:
            return self.do_backup(kind=verb, **opts)
        getattr(self, f"do_{verb}")(**opts)

    def _bar(self):
        bar = ProgressBar() if sys.stderr.isatty() else None
        if bar:
            services.progress_listeners.append(bar)
        return bar

    def _unbar(self, bar):
        if bar:
            services.progress_listeners.remove(bar)
            bar.close()

    def do_backup(self, *, kind, inline, compression, level, json, **_):
        bar = self._bar() if inline else None
        try:
            backup = services.backup_start(
                kind=kind, actor=cli_actor(), inline=inline, compression=compression, level=level
            )
        finally:
            self._unbar(bar)
        backup = selectors.backup_get(backup.id)
        if json:
            self.stdout.write(_as_json("backup", backup))
        elif backup.status == Status.QUEUED and not inline:
            self.stdout.write(f"📦 backup {backup.id} ({kind}) queued")
        else:
            self.stdout.write(_show(backup))
            for loc in backup.locations.all():
                self.stdout.write(f"       {loc.tier}: {loc.uri}")
        if backup.status == Status.FAILED:
            raise CommandError(f"backup {backup.id} failed: {backup.error}")
        if inline and backup.status == Status.QUEUED:
            raise CommandError(f"backup {backup.id} stays queued: a backup of the same target is running")

    def do_verify(self, *, target, restore_test, json, identity=None, **_):
        depth = "restore" if restore_test else "list"
        bar = self._bar()
        try:
            with crypto.identity_file(identity):
                result, copies = self._verify(target, depth, restore_test)
        finally:
            self._unbar(bar)
        if json:
            self.stdout.write(_dumps(result))
        else:
            for tier, copy in copies.items():
                for c in copy.get("checks", []):
                    mark = "✓" if c["ok"] else "✗"
                    self.stdout.write(f"{mark} {c['check']:<10} {c['file']}  ({c['duration_s']} s)  {c['detail']}")
                for line in _protection(tier, copy):
                    self.stdout.write(line)
        if not result["ok"]:
            raise CommandError(f"verification failed: {result['detail']}")
        self.stdout.write("✅ backup verified")

    def _verify(self, target: str, depth: str, restore_test: bool) -> tuple[dict, dict[str, dict]]:
        """A catalog id (every copy) or a PATH (that file and the manifest beside it)."""
        path = Path(target)
        if target.isdigit() and not path.exists():
            try:
                backup = Backup.objects.get(id=int(target))
            except Backup.DoesNotExist:
                raise CommandError(f"no backup {target}") from None
            backup = services.backup_verify(backup_id=backup.id, restore_test=restore_test)
            return backup.verification, backup.verification.get("tiers", {})
        try:
            result = verify_path(path, depth=depth)
        except (FileNotFoundError, ValueError) as exc:
            raise CommandError(str(exc)) from None
        return result, {"file": result}

    def do_test(self, **_):
        bar = self._bar()
        try:
            backup = services.backup_start(kind="database", actor=cli_actor(), inline=True)
            if backup.status != Status.SUCCEEDED:
                raise CommandError(f"backup {backup.id} {backup.status}: {backup.error}")
            backup = services.backup_verify(backup_id=backup.id, restore_test=True)
        finally:
            self._unbar(bar)
        self.stdout.write(_show(backup))
        self.stdout.write(backup.verification["detail"])
        if not backup.verification["ok"]:
            raise CommandError("restore test failed")
        self.stdout.write("✅ backup and restore test passed")

    def do_list(self, *, kind, json, **_):
        rows = list(selectors.backup_list(kind=kind)[:200])
        if json:
            self.stdout.write(_as_json("backup", rows, many=True))
            return
        if not rows:
            self.stdout.write("No backups.")
        for backup in rows:
            self.stdout.write(_show(backup))

    def do_prune(self, *, dry_run, **_):
        result = services.backups_prune(actor=cli_actor(), dry_run=dry_run)
        if result["paused"]:
            self.stdout.write("⏸ retention paused: " + "; ".join(result["paused"]))
            return
        verb = "would delete" if dry_run else "deleted"
        for item in result["deleted"]:
            self.stdout.write(
                f"{verb} backup {item['backup']} {item['kind']} {item['tier']} "
                f"(snapshot {item['snapshot_at'][:16]}, keep {item['retention_days']} d): {item['uri']}"
            )
        for item in result.get("skipped", []):
            self.stdout.write(f"🔒 kept backup {item['backup']} {item['kind']} {item['tier']}: {item['reason']}")
        self.stdout.write(f"{len(result['deleted'])} copies {verb}" + _skipped(result))

    def do_schedule(self, *, json, **_):

        tasks = PeriodicTask.objects.filter(task__startswith="backups.").select_related("interval", "crontab")
        rows = [
            {
                "name": t.name,
                "task": t.task,
                "every": str(t.interval or t.crontab or t.clocked or t.solar),
                "kwargs": t.kwargs,
                "enabled": t.enabled,
                "last_run_at": t.last_run_at.isoformat() if t.last_run_at else None,
            }
            for t in tasks.order_by("name")
        ]
        if json:
            self.stdout.write(_dumps(rows))
            return
        for r in rows:
            state = "on " if r["enabled"] else "off"
            self.stdout.write(f"{state}  {r['name']:<40} {r['every']:<22} last run: {r['last_run_at'] or 'never'}")
        self.stdout.write("Edit schedules in the admin: Periodic tasks; retention in Backup policies.")

    def do_import(self, **_):
        result = services.backups_import(actor=cli_actor())
        self.stdout.write(f"imported {result['backups']} backups, {result['locations']} copies")

    def do_restore(
        self, *, id, into, database_url, dry_run, force, parts, queue, jobs, json, to_time, port, data_dir, stop, **kw
    ):
        identity = kw.get("identity")
        if stop or to_time:
            if id is not None or database_url or into:
                raise CommandError(
                    "--to-time and --stop are for the PITR target's new server: give no ID, --into or --database-url"
                )
            return self._restore_pitr(to_time, stop=stop, port=port, datadir=data_dir, as_json=json)
        if id is None:
            raise CommandError("give a backup ID (and --database-url for a database), or --to-time")
        try:
            backup = selectors.backup_get(id)
        except Backup.DoesNotExist:
            raise CommandError(f"no backup {id}") from None
        if backup.kind == "database" and not into:
            return self._restore_database(backup, database_url, dry_run, jobs, identity)
        if into:
            into = str(Path(into).absolute())
        if queue and identity:
            raise CommandError("--identity is read here: a queued restore decrypts with BACKUP_AGE_IDENTITY_FILE")
        bar = None if queue or dry_run else self._bar()
        try:
            with crypto.identity_file(identity):
                row = restore_start(
                    backup=backup,
                    actor=cli_actor(),
                    into=into,
                    database_url=database_url,
                    dry_run=dry_run,
                    force=force,
                    parts=parts,
                    inline=not queue,
                )
        finally:
            self._unbar(bar)
        self._show_restore(row, json)

    def _show_restore(self, row, as_json: bool) -> None:
        if as_json:
            self.stdout.write(_as_json("restore", row))
        else:
            verb = "would be " if row.dry_run else ""
            for change in ("added", "replaced", "removed"):
                for path in row.changes.get(change, []):
                    self.stdout.write(f"{ {'added': '+', 'replaced': '~', 'removed': '-'}[change] } {path}")
                self.stdout.write(f"{len(row.changes.get(change, []))} {verb}{change}")
            if row.detail:
                self.stdout.write(row.detail)
        if row.status == Status.FAILED:
            raise CommandError(f"restore {row.id} failed: {row.error}")
        if row.status == Status.QUEUED:
            self.stdout.write(f"restore {row.id} queued; follow it with: GET /api/v1/restores/{row.id}/")
        elif not row.dry_run and not as_json:
            self.stdout.write(f"✅ restore {row.id} of backup {row.backup_id} done")

    def _restore_database(
        self, backup: Backup, database_url: str, dry_run: bool, jobs: int, identity: str | None
    ) -> None:
        if not database_url:
            raise CommandError("a database backup restores into --database-url (an existing, empty database)")
        if dry_run:
            tables = backup.manifest.get("parts", [{}])[0].get("tables", {})
            self.stdout.write(f"would restore {len(tables)} tables, {sum(tables.values())} rows")
            return
        with (
            services.retention_paused(f"restore of backup {backup.id} by {cli_actor()}"),
            crypto.identity_file(identity),
        ):
            try:
                result = restore_database(backup=backup, database_url=database_url, jobs=jobs)
            except RestoreError as exc:
                raise CommandError(str(exc)) from None
        rows, took = sum(result["tables"].values()), format_duration(result["duration_s"])
        self.stdout.write(f"✅ restored backup {backup.id}: {len(result['tables'])} tables, {rows} rows in {took}")

    def _restore_pitr(self, to_time: str | None, *, stop: bool, port, datadir, as_json: bool) -> None:
        if not stop:
            return self._restore_to_time(to_time, port=port, datadir=datadir, as_json=as_json)
        if not datadir:
            raise CommandError("--stop needs --data-dir")
        stop_restored(Path(datadir), remove=False)
        self.stdout.write(f"stopped the server in {datadir}")

    def _restore_to_time(self, to_time: str, *, port, datadir, as_json: bool) -> None:
        try:
            target = parse_target(to_time)
            result = restore_to_time(to_time=target, port=port, datadir=Path(datadir) if datadir else None)
        except (RestoreError, ValueError) as exc:
            raise CommandError(str(exc)) from None
        if as_json:
            self.stdout.write(_dumps(result))
        else:
            took = format_duration(result["duration_s"])
            self.stdout.write(f"{'✅' if result['complete'] else '⚠'} restored to {result['target']} in {took}: ")
            self.stdout.write(f"   {result['detail']}")
            self.stdout.write(f"   data directory: {result['datadir']}  (stop: {result['stop']})")
            self.stdout.write(f"   connect: {result['url']}")
        if not result["complete"]:
            raise CommandError(result["detail"])

    def do_sweep(self, **_):
        self.stdout.write(_dumps(services.backups_sweep()))


def _restore_arguments(sub) -> None:
    rs = sub.add_parser(
        "restore",
        help="Restore a backup of any kind: files into their folders (or --into DIR), a database into "
        "--database-url; or (--to-time) the PITR target as it was at a moment into a new data directory and port",
    )
    rs.add_argument("id", type=int, nargs="?", help="The backup (not with --to-time)")
    rs.add_argument("--into", default="", help="Restore the files into this folder instead of their targets")
    rs.add_argument("--database-url", default="", help="An existing, empty database for the database part")
    rs.add_argument("--dry-run", action="store_true", help="Only list what would be added, replaced, removed")
    rs.add_argument("--force", action="store_true", help="Restore into a folder that is not ours (not empty)")
    rs.add_argument("--part", action="append", choices=["database", "config", "media", "sessions"], dest="parts")
    rs.add_argument("--queue", action="store_true", help="Run on a worker instead of here")
    rs.add_argument("--jobs", type=int, default=2)
    rs.add_argument("--identity", help="age identity file to decrypt with (default BACKUP_AGE_IDENTITY_FILE)")
    rs.add_argument("--to-time", help="'latest' or an ISO 8601 time (UTC unless it says otherwise)")
    rs.add_argument("--port", type=int, help="Port of the restored server (default: a free one)")
    rs.add_argument("--data-dir", help="New data directory (default: under PITR_RESTORE_DIR)")
    rs.add_argument("--stop", action="store_true", help="Stop the restored server in --data-dir (files kept)")
    rs.add_argument("--json", action="store_true")


def _skipped(result: dict) -> str:
    n = len(result.get("skipped", []))
    return f"; {n} locked {'copy' if n == 1 else 'copies'} kept until their lock ends" if n else ""


def _protection(tier: str, copy: dict) -> list[str]:
    """What protects a copy: which age key reads it, and its S3 Object Lock."""
    lines = []
    key = copy.get("encryption")
    if key:
        here = f"key here: {key['key']}" if key.get("key_available") else "no such key here"
        lines.append(f"🔑 {tier}: encrypted with age; needs {key['needs']} ({here})")
    lock = copy.get("lock")
    if lock:
        state = "locked" if lock.get("locked") else "lock ended"
        lines.append(f"🔒 {tier}: {state}: {describe_lock(lock)}")
    return lines


def _dumps(data) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)


def _as_json(what: str, data, *, many: bool = False) -> str:
    """A backup or restore row (or rows) as the API shows it."""
    from ...api import serializers  # here, not at the top: DRF (about 150 modules) only for --json

    serializer = {"backup": serializers.BackupSerializer, "restore": serializers.RestoreSerializer}[what]
    return _dumps(serializer(data, many=many).data)

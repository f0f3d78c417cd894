"""Restore the PITR target to a moment: the newest base backup finished before it, then the WAL
shipped since, replayed by stock ``postgres`` in a new data directory on a new port with
``recovery_target_time``, paused there and promoted (``latest``: promoted at the end of the WAL).

Nothing is trusted that was not checked: every stored file is read against its manifest's SHA-256
(a damaged copy is skipped for the next tier's), the WAL segments are fed to PostgreSQL in order
while it replays (``feed``) and the first one missing or damaged everywhere is named, and success
is only reported when PostgreSQL says it stopped at the target (or, for ``latest``, replayed all
the WAL there is). The base backup is laid out in one pass (``untar``), while the first segments
are already being fetched."""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from pitchey_incidents import events
from pitchey_incidents.actors import actor_name
from pitchey_incidents.errors import Conflict, DomainError
from pitchey_incidents.ports import free_port, port_is_free

from .. import manifest as mf
from .. import pipeline
from ..models import Backup, Kind, Status
from ..pauses import retention_paused
from ..restore import DamagedCopy, MissingKey, RestoreError, location_opener
from ..storage import StorageError, crypto
from . import untar
from .feed import SegmentSource, WalFeed, WalPlan
from .server import (
    SEGMENT,
    as_server_user,
    give_to_server_user,
    pg_bin,
    segment_after,
    segment_number,
    source_url,
)

TIER_ORDER = {"local": 0, "cloud": 1, "archive": 2}
NOT_REACHED = "recovery ended before configured recovery target was reached"
PAUSED = "pausing at the end of recovery"
READY = re.compile(r"database system is ready to accept connections")
STOPPED = re.compile(r"recovery stopping (before|after) (commit|abort) of transaction \d+, time (.+)")
LAST_TX = re.compile(r"last completed transaction was at log time (.+)")


def parse_target(text: str) -> datetime | None:
    """``latest`` (None), or an ISO 8601 time; one without an offset is UTC."""
    if text.strip().lower() == "latest":
        return None
    value = parse_datetime(text.strip().replace(" ", "T", 1))
    if value is None:
        raise ValueError(f"not a time: {text!r} (use ISO 8601, e.g. 2026-12-02T11:05:00Z, or latest)")
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def base_backup_for(to_time: datetime | None) -> Backup:
    """The newest succeeded base backup that finished before ``to_time`` (any, for latest)."""
    qs = Backup.objects.filter(kind=Kind.BASEBACKUP, status=Status.SUCCEEDED, locations__isnull=False).distinct()
    if to_time is not None:
        qs = qs.filter(snapshot_at__lte=to_time)
    base = qs.order_by("-snapshot_at", "-id").first()
    if base is None:
        when = f"finished before {to_time.isoformat()}" if to_time else "at all"
        raise RestoreError(f"no base backup {when}: take one with `manage.py backup basebackup`")
    return base


def restore_to_time(
    *,
    to_time: datetime | None,
    datadir: Path | None = None,
    port: int | None = None,
    timeout: float | None = None,
    reporter: pipeline.Reporter | None = None,
) -> dict:
    """Bring up a copy of the PITR target as it was at ``to_time`` (``None``: the latest WAL there
    is). Returns the new server's data directory, port, URL and where recovery stopped; raises
    ``RestoreError`` when the target cannot be reached (naming the missing segment). ``reporter``
    hears the steps: base backup (parts), replay (segments taken). ``phases_s`` says how long the
    checks before it, the base backup and the replay took."""
    if port is not None and not port_is_free(port):
        raise DomainError(f"port {port} is in use on 127.0.0.1: give another, or none for a free one", field="port")
    base = base_backup_for(to_time)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S")
    datadir = Path(datadir or Path(settings.PITR_RESTORE_DIR) / f"restore-{stamp}-{secrets.token_hex(3)}")
    if datadir.exists() and any(datadir.iterdir()):
        raise RestoreError(f"{datadir} is not empty")
    started = time.monotonic()
    with retention_paused(f"point-in-time restore to {to_time.isoformat() if to_time else 'latest'}"):
        check_keys(base)
        checked = time.monotonic()
        plan, outcome = _bring_up(base, datadir, port, to_time, timeout, reporter or pipeline.Reporter())
    return _result(base, to_time, plan, outcome) | {
        "datadir": str(datadir),
        "port": outcome["port"],
        "url": connection_url(outcome["port"]),
        "duration_s": round(time.monotonic() - started, 3),
        "phases_s": {"checks": round(checked - started, 3)} | outcome["phases_s"],
        "stop": f"{pg_bin('pg_ctl')} stop -D {datadir}",
    }


def _bring_up(
    base: Backup,
    datadir: Path,
    port: int | None,
    to_time: datetime | None,
    timeout: float | None,
    reporter: pipeline.Reporter,
) -> tuple[WalPlan, dict]:
    """WAL fetched ahead of replay, the base backup laid out, postgres started (``_start_on_a_port``)
    and waited for; on failure the data directory goes. ``RestoreError``: the target not reached."""
    feed = WalFeed(wal_sources(base), datadir.with_name(datadir.name + "-wal"), ahead=settings.PITR_RESTORE_WAL_AHEAD)
    try:
        feed.start()
        started = time.monotonic()
        _lay_out_base(base, datadir, reporter)
        laid_out = time.monotonic()
        _configure(datadir, feed.restore_command, to_time)
        give_to_server_user(datadir)
        reporter.start("replay", len(feed.sources))
        outcome = _start_on_a_port(
            datadir, port, timeout or settings.PITR_RESTORE_TIMEOUT_S, lambda: reporter.set(feed.handed())
        )
        outcome["phases_s"] = {
            "base_backup": round(laid_out - started, 3),
            "replay": round(time.monotonic() - laid_out, 3),
        }
        plan = feed.finish()
        if feed.error is not None:  # nothing after the failure was fed: not the WAL there is
            _stop(datadir)
            raise RestoreError(f"fetching the WAL failed: {feed.error}") from feed.error
    except BaseException:
        feed.finish()
        shutil.rmtree(datadir, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(feed.spool, ignore_errors=True)  # the server has replayed it, or failed
    if outcome["failed"]:
        shutil.rmtree(datadir, ignore_errors=True)
        raise RestoreError(_why_not_reached(to_time, plan, outcome["log"]))
    return plan, outcome


def _result(base: Backup, to_time: datetime | None, plan: WalPlan, outcome: dict) -> dict:
    """Where recovery stopped, and whether all the WAL needed was there: a time PostgreSQL reached
    needed nothing after it (the fetcher may have looked further ahead)."""
    if to_time is not None:
        plan = WalPlan(segments=plan.segments)
    complete = plan.missing is None
    if not complete:
        how = "damaged in every copy" if plan.missing in plan.damaged else "missing"
        detail = f"stopped at the last consistent point, the end of {plan.last}: segment {plan.missing} is {how}"
    elif to_time:
        detail = f"stopped at {outcome['stopped_at']}"
    else:
        detail = f"replayed all WAL received, to segment {plan.last or base.manifest['pitr']['start_segment']}"
    return {
        "base_backup": base.id,
        "target": to_time.isoformat() if to_time else "latest",
        "stopped_at": outcome["stopped_at"],
        "complete": complete,
        "missing_segment": plan.missing,
        "segments": len(plan.segments),
        "detail": detail,
    }


def pitr_restore(*, to_time: str, actor: object, port: int | None = None, datadir: Path | None = None) -> dict:
    """``restore_to_time`` for people and plans: parses ``to_time`` (ISO 8601 or ``latest``), audits
    who asked and what came of it. A target it cannot reach is a ``Conflict`` naming why."""
    try:
        target = parse_target(to_time)
    except ValueError as exc:
        raise DomainError(str(exc), field="to_time") from None
    try:
        result = restore_to_time(to_time=target, port=port, datadir=datadir)
    except RestoreError as exc:
        failed = {"to_time": to_time, "error": str(exc)}
        events.audit(actor=actor_name(actor), action="backup.pitr_restore", data=failed)
        raise Conflict(str(exc)) from None
    events.audit(actor=actor_name(actor), action="backup.pitr_restore", data=result)
    return result


def connection_url(port: int) -> str:
    """The PITR URL pointed at the restored server (no password: the restored roles keep theirs)."""
    parts = urlsplit(source_url())
    user = quote(parts.username or "", safe="")
    return urlunsplit(parts._replace(netloc=f"{user + '@' if user else ''}127.0.0.1:{port}"))


def _locations(backup: Backup) -> list:
    return sorted(backup.locations.all(), key=lambda loc: TIER_ORDER.get(loc.tier, 9))


def check_keys(base: Backup) -> None:
    """The base backup and every WAL segment shipped after it have a tier whose copy is stored as
    is or opens with the configured age identities: else ``MissingKey`` saying which key a copy
    needs, before anything is written."""
    pitr = base.manifest["pitr"]
    available: list[crypto.Identity] | None = None
    backup = base
    try:
        for backup in [base, *_shipped(pitr["timeline"], pitr["start_segment"]).values()]:
            needed, locations = [], _locations(backup)
            for location in locations:
                encryption = next((p["encryption"] for p in _parts(backup, location) if p.get("encryption")), None)
                if encryption is None:
                    break
                available = crypto.identities() if available is None else available
                if crypto.matching(encryption, available):
                    break
                needed.append(encryption)
            if needed and len(needed) == len(locations):
                crypto.key_for(needed[0])  # raises, naming the key
    except crypto.AgeKeyError as exc:
        raise MissingKey(f"{backup.kind} backup {backup.id}: {exc}") from None


def _parts(backup: Backup, location) -> list[dict]:
    """The backup's parts as ``location``'s tier stores them (encrypted files named as such)."""
    return mf.stored_parts(mf.for_tier(backup.manifest, location.tier))


def _lay_out_base(base: Backup, datadir: Path, reporter: pipeline.Reporter) -> None:
    """Extract the base backup's tar files into ``datadir`` from the first intact copy."""
    errors = []
    for location in _locations(base):
        try:
            reporter.start("base backup", len(_parts(base, location)))
            shutil.rmtree(datadir, ignore_errors=True)
            datadir.mkdir(parents=True, mode=0o700)
            opener = location_opener(location)
            for done, part in enumerate(_parts(base, location), 1):
                if part["part"] == "base":
                    untar.extract(opener, part, datadir)
                elif part["part"] == "pg_wal":
                    untar.extract(opener, part, datadir / "pg_wal")
                reporter.set(done)
            return
        except (DamagedCopy, StorageError, OSError, crypto.AgeKeyError) as exc:
            errors.append(f"{location.tier}: {exc}")
    raise RestoreError(f"base backup {base.id} has no intact copy: " + "; ".join(errors))


def _shipped(timeline: int, first: str) -> dict[str, Backup]:
    """The newest shipped copy of every segment of ``timeline`` from ``first`` on."""
    found: dict[str, Backup] = {}
    rows = Backup.objects.filter(kind=Kind.WAL, status=Status.SUCCEEDED, locations__isnull=False).distinct()
    for backup in rows.order_by("id").prefetch_related("locations"):
        name = backup.manifest.get("wal", {}).get("segment", "")
        if name.startswith(f"{timeline:08X}") and name >= first:
            found[name] = backup
    return found


def _spooled(timeline: int, first: str) -> dict[str, Path]:
    """Segments still in this host's spool: finished ones not yet shipped, and the one being written."""
    spool = Path(settings.PITR_SPOOL_DIR)
    found: dict[str, Path] = {}
    if not spool.is_dir():
        return found
    for path in sorted(spool.iterdir()):
        name = path.name.removesuffix(".partial")
        if SEGMENT.match(name) and name.startswith(f"{timeline:08X}") and name >= first:
            found.setdefault(name, path)
    return found


def wal_sources(base: Backup) -> list[SegmentSource]:
    """Every segment from the base backup's first to the last one shipped or spooled, in order,
    with where each can be read (a gap in the names is a source with nowhere to read it)."""
    pitr = base.manifest["pitr"]
    timeline, name = pitr["timeline"], pitr["start_segment"]
    shipped, spooled = _shipped(timeline, name), _spooled(timeline, name)
    known = set(shipped) | set(spooled)
    if not known:
        return []
    last, sources = segment_number(max(known, key=segment_number)), []
    while segment_number(name) <= last:
        backup = shipped.get(name)
        copies = [(location_opener(loc), _parts(backup, loc)[0]) for loc in _locations(backup)] if backup else []
        sources.append(SegmentSource(name, copies, spooled.get(name)))
        name = segment_after(name)
    return sources


def _configure(datadir: Path, restore_command: str, to_time: datetime | None) -> None:
    """Recovery settings appended to postgresql.auto.conf (later lines win), and recovery.signal."""
    if not (datadir / "postgresql.conf").exists():  # Debian keeps it in /etc: a minimal one
        (datadir / "postgresql.conf").write_text("# written by the point-in-time restore\n")
    if not (datadir / "pg_hba.conf").exists():
        (datadir / "pg_hba.conf").write_text("local all all peer\nhost all all 127.0.0.1/32 scram-sha-256\n")
    (datadir / "standby.signal").unlink(missing_ok=True)
    lines = [
        "listen_addresses = '127.0.0.1'",
        "unix_socket_directories = ''",
        "archive_mode = off",
        "hot_standby = on",
        f"restore_command = '{restore_command}'",
    ]
    if to_time is not None:  # paused at the target, then promoted (see _start_and_wait)
        lines += ["recovery_target_action = 'pause'", f"recovery_target_time = '{to_time.isoformat()}'"]
    else:
        lines.append("recovery_target_action = 'promote'")
    with open(datadir / "postgresql.auto.conf", "a") as fh:
        fh.write("\n# point-in-time restore\n" + "\n".join(lines) + "\n")
    (datadir / "recovery.signal").write_text("")
    for stale in ("postmaster.pid", "postmaster.opts"):
        (datadir / stale).unlink(missing_ok=True)


PORT_TRIES = 5
PORT_TAKEN = "could not create any TCP/IP sockets"  # the server's FATAL when its port is taken


def _start_on_a_port(datadir: Path, port: int | None, timeout: float, progress=lambda: None) -> dict:
    """``_start_and_wait`` on ``port``; without one, on a port picked just before the server starts,
    and on another should something take it first (the base backup may take minutes to lay out).
    The outcome says which port the server listens on."""
    for _ in range(1 if port else PORT_TRIES):
        chosen = port or free_port()
        with open(datadir / "postgresql.auto.conf", "a") as fh:  # later lines win
            fh.write(f"port = {chosen}\n")
        outcome = _start_and_wait(datadir, timeout, progress)
        if not (outcome["failed"] and PORT_TAKEN in outcome["log"]):
            return outcome | {"port": chosen}
        (datadir / "restore.log").rename(datadir / f"restore-port-{chosen}-taken.log")
    raise RestoreError(f"the restored server could not listen on 127.0.0.1:{chosen}: the port is taken")


def _start_and_wait(datadir: Path, timeout: float, progress=lambda: None) -> dict:
    """Start stock postgres on ``datadir``; wait until it is promoted (ready for writes) or stops.
    Paused at its target, it is promoted with ``pg_ctl promote``: PostgreSQL's fast promotion
    (an end-of-recovery record; the checkpoint follows in the background) where reaching the target
    with ``recovery_target_action = promote`` would first wait for a whole checkpoint."""
    logfile = datadir / "restore.log"
    logfile.touch()
    give_to_server_user(logfile)
    argv = as_server_user([pg_bin("pg_ctl"), "start", "-W", "-D", str(datadir), "-l", str(logfile)])
    proc = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise RestoreError(f"pg_ctl start failed: {(proc.stderr or proc.stdout).strip()[-300:]}")
    deadline, promoted = time.monotonic() + timeout, False
    while True:
        log = logfile.read_text(errors="replace")
        if PAUSED in log and not promoted:
            promoted = _promote(datadir)
        stopped = STOPPED.search(log) or LAST_TX.search(log)
        if READY.search(log):
            return {"failed": False, "log": log, "stopped_at": stopped.groups()[-1] if stopped else None}
        if NOT_REACHED in log or (not (datadir / "postmaster.pid").exists() and "FATAL" in log):
            _stop(datadir)
            return {"failed": True, "log": log, "stopped_at": None}
        if time.monotonic() > deadline:
            _stop(datadir)
            raise RestoreError(f"recovery did not finish in {timeout:.0f} s; log: {datadir / 'restore.log'}")
        progress()
        time.sleep(0.05)


def _promote(datadir: Path) -> bool:
    argv = as_server_user([pg_bin("pg_ctl"), "promote", "-W", "-D", str(datadir)])
    proc = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        _stop(datadir)
        raise RestoreError(f"pg_ctl promote failed: {(proc.stderr or proc.stdout).strip()[-300:]}")
    return True


def _stop(datadir: Path) -> None:
    argv = as_server_user([pg_bin("pg_ctl"), "stop", "-D", str(datadir), "-m", "immediate", "-t", "30"])
    subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL)


def stop_restored(datadir: Path, *, remove: bool = True) -> None:
    """Stop a restored server (fast) and, with ``remove``, delete its data directory."""
    argv = as_server_user([pg_bin("pg_ctl"), "stop", "-D", str(datadir), "-m", "fast", "-t", "60"])
    subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL)
    if remove:
        shutil.rmtree(datadir, ignore_errors=True)


def _why_not_reached(to_time: datetime | None, plan: WalPlan, log: str) -> str:
    target = to_time.isoformat() if to_time else "the end of the WAL"
    last = plan.last or "the base backup's own WAL"
    if plan.missing:
        how = "damaged in every copy" if plan.missing in plan.damaged else "missing"
        return (
            f"could not reach {target}: WAL segment {plan.missing} is {how}; the last consistent point is the "
            f"end of {last} (restore with --to-time latest to bring that up)"
        )
    if NOT_REACHED in log:
        return (
            f"could not reach {target}: the WAL received ends at segment {last} before any transaction after "
            f"that time (nothing was committed after it yet, or its WAL is still in flight)"
        )
    fatal = [line for line in log.splitlines() if "FATAL" in line or "PANIC" in line]
    return f"restore failed: {fatal[-1] if fatal else 'postgres stopped'}"

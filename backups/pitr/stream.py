"""The WAL stream: a physical replication slot on the PITR target, ``pg_receivewal`` writing into a
spool, finished segments shipped to the tiers (the slot and its guard are in ``slot``).

``pg_receivewal --synchronous`` flushes every piece of WAL to the spool before it tells the server,
and the server keeps WAL for the slot until told; so a receiver killed at any moment (even with
``kill -9``) resumes where the slot stands and loses nothing. What the server keeps for a slot fills
its disk if nobody reads it: past ``PITR_SLOT_WARN_BYTES`` the ``backup_rpo`` probe warns, past
``PITR_SLOT_MAX_BYTES`` the guard drops the slot and records the gap (an incident), and the receiver
starts over with a new slot and a new base backup."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
from collections import deque
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from pitchey_incidents import events

from .. import services
from ..models import Backup, Kind, Status, WalStream
from ..restore import file_sha256
from .server import SEGMENT, lsn_to_int, pg_bin, source_url, tool_env
from .slot import Slot, connect, read_slot, record_gap, slot_guard, stream_row

log = logging.getLogger(__name__)

BASE_RETRY_S = 300  # after a failed base backup, the receiver tries again this much later
# pg_receivewal reports a finished segment to the server at its next status packet (every 10 s by
# default): until then the slot, and the RPO read from it, stay that far behind what is on our disk.
STATUS_INTERVAL_S = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class WalReceiver:
    """One loop: keep the slot and ``pg_receivewal`` alive, ship finished segments, record the stream."""

    def __init__(self, *, spool: Path | None = None, slot: str | None = None, check_interval: float = 1.0):
        self.spool = Path(spool or settings.PITR_SPOOL_DIR)
        self.slot = slot or settings.PITR_SLOT
        self.check_interval = check_interval
        self.child: subprocess.Popen | None = None
        self.samples: deque[tuple[datetime, int]] = deque(maxlen=3600)
        self.base_thread: threading.Thread | None = None

    # --- the loop --------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        self.spool.mkdir(parents=True, exist_ok=True)
        WalStream.objects.filter(slot=self.slot).update(receiver_pid=os.getpid())
        try:
            while not stop.is_set():
                try:
                    self.tick()
                except Exception as exc:  # the server is away, a ship failed: say so, try again next tick
                    log.warning("WAL receiver: %s", exc)
                    WalStream.objects.filter(slot=self.slot).update(detail=f"{exc}"[:500])
                    close_old_connections()
                stop.wait(self.check_interval)
        finally:
            self.stop_child()
            if self.base_thread:
                self.base_thread.join(timeout=600)

    def tick(self) -> None:
        stream = stream_row(self.slot)
        with connect() as conn:
            state = read_slot(conn, self.slot)
            if not state.exists:
                self._new_slot(conn, stream)
                state = read_slot(conn, self.slot)
            self._ensure_child(stream)
            guard = slot_guard(conn=conn, slot=self.slot, before_drop=self.stop_child)
            if guard["dropped"]:
                return
        self.ship()
        self._record(stream, state)
        self._base_backup_if_needed(stream)

    # --- the slot and pg_receivewal --------------------------------------------------------------

    def _new_slot(self, conn, stream: WalStream) -> None:
        """Create the slot; when one existed before, WAL between the two is lost: record the gap."""
        self.stop_child()
        if stream.slot_created_at and stream.state != "dropped":
            record_gap(stream, f"replication slot {self.slot} disappeared; WAL since {stream.received_lsn} is lost")
        for partial in self.spool.glob("*.partial"):
            partial.unlink()  # the old stream's unfinished segment: the new slot starts elsewhere
        conn.execute("SELECT pg_create_physical_replication_slot(%s, true)", (self.slot,))
        stream.state, stream.slot_created_at, stream.detail = "streaming", timezone.now(), ""
        stream.save(update_fields=["state", "slot_created_at", "detail"])
        self.samples.clear()
        events.emit("backup.wal_slot_created", f"wal:{self.slot}", {"slot": self.slot})

    def _ensure_child(self, stream: WalStream) -> None:
        if self.child is not None and self.child.poll() is None:
            return
        if self.child is not None:
            tail = self._log_path().read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            stream.detail = f"pg_receivewal exited {self.child.returncode}: {tail[0]}"[:500]
            stream.save(update_fields=["detail"])
        url, env = tool_env(source_url())
        argv = [pg_bin("pg_receivewal"), "-D", str(self.spool), "-S", self.slot, "-d", url, "--synchronous", "-n"]
        argv += ["--status-interval", str(STATUS_INTERVAL_S)]
        with open(self._log_path(), "ab") as err:
            self.child = subprocess.Popen(
                argv, env=env, stdin=subprocess.DEVNULL, stdout=err, stderr=err, preexec_fn=_die_with_parent
            )

    def _log_path(self) -> Path:
        return self.spool / "pg_receivewal.log"

    def stop_child(self) -> None:
        if self.child is None or self.child.poll() is not None:
            return
        self.child.terminate()  # pg_receivewal flushes what it has and exits
        try:
            self.child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.child.kill()
            self.child.wait()

    # --- shipping and the record -----------------------------------------------------------------

    def ship(self) -> list[str]:
        """Every finished segment in the spool to the tiers (oldest first); removed once stored."""
        shipped = []
        for path in sorted(p for p in self.spool.iterdir() if SEGMENT.match(p.name)):
            ship_segment(path)
            path.unlink()
            shipped.append(path.name)
        return shipped

    def _record(self, stream: WalStream, state: Slot) -> None:
        """``synced_at``: the newest moment at which everything the server had written is now received."""
        self.samples.append((state.at, lsn_to_int(state.current_lsn)))
        received = lsn_to_int(state.restart_lsn) if state.restart_lsn else -1
        synced = None
        while self.samples and self.samples[0][1] <= received:
            synced = self.samples.popleft()[0]
        if synced is not None:
            self.samples.appendleft((synced, received))  # keeps its place for the next tick
            stream.synced_at = synced
        stream.received_lsn = state.restart_lsn or ""
        stream.state = "streaming" if self.child and self.child.poll() is None else "stopped"
        stream.receiver_seen_at = timezone.now()
        stream.save(update_fields=["synced_at", "received_lsn", "state", "receiver_seen_at"])

    def _base_backup_if_needed(self, stream: WalStream) -> None:
        """A new slot (or none yet taken since it exists) needs a base backup for the WAL to be useful."""
        if self.base_thread and self.base_thread.is_alive():
            return
        since = stream.slot_created_at or timezone.now()
        tried = Backup.objects.filter(kind=Kind.BASEBACKUP, created_at__gte=since)
        if tried.exclude(status=Status.FAILED).exists():
            return
        last = tried.order_by("-created_at").first()
        if last and (timezone.now() - last.created_at).total_seconds() < BASE_RETRY_S:
            return  # the last attempt failed; the next one waits (the backups page shows the error)
        self.base_thread = threading.Thread(target=_take_base_backup, name="wal-receiver-base-backup", daemon=True)
        self.base_thread.start()


def _take_base_backup() -> None:
    try:
        services.backup_start(kind=Kind.BASEBACKUP, actor="wal_receiver", trigger="schedule", inline=True)
    finally:
        connection.close()


def ship_segment(path: Path) -> Backup | None:
    """One finished WAL segment to the tiers, as a ``wal`` backup; skipped if it is already there."""
    name = path.name
    sha = file_sha256(path)
    done = Backup.objects.filter(kind=Kind.WAL, status=Status.SUCCEEDED, manifest__wal__segment=name)
    if any(mf_part(b)["uncompressed_sha256"] == sha for b in done):
        return None
    info = {"wal": {"segment": name, "timeline": int(name[:8], 16)}}
    part = {"part": "wal", "format": "wal-segment", "segment": name}
    received_at = datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.get_current_timezone())
    return services.backup_from_file(kind=Kind.WAL, src=path, name=name, part=part, snapshot_at=received_at, info=info)


def mf_part(backup: Backup) -> dict:
    return backup.manifest["parts"][0]

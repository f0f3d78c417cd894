"""The WAL of a point-in-time restore, fed to PostgreSQL while it replays.

A thread of the restore fetches the segments in order from the base backup's first, each from its
first intact copy (decrypted, decompressed, its stored bytes checked against the manifest's
SHA-256 on the way), into a spool folder, a few segments ahead of replay; it starts while the base
backup is still being laid out. A segment appears in the spool only once checked (written beside
it, then renamed). PostgreSQL's ``restore_command`` is a small shell script (no Python, no Django:
it runs once per segment): it moves the ready segment into place, or waits until the fetcher has
either readied it or ended. The fetcher ends at the last segment there is, or at the first one
missing or damaged in every copy, which is then never replayed: PostgreSQL is told it is not
available, and recovery stops at the last consistent point before it."""

from __future__ import annotations

import contextvars
import os
import shlex
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ..restore import DamagedCopy, decompress_to
from ..storage import StorageError, crypto
from .server import DEFAULT_SEGMENT_SIZE, SEGMENT, give_to_server_user

POLL_S = 0.02  # how often the script looks again for a segment not yet ready
END = "end"  # written when the fetcher has readied all it will: what is not there is not available
SCRIPT = "restore-wal.sh"

# $1 = %f, $2 = %p. Only segment names (24 hex digits) are ever readied; a timeline history file or
# anything else is not available at once. A segment handed over before (PostgreSQL keeps it in
# pg_wal) is not available again, never waited for.
SCRIPT_TEXT = """#!/bin/sh
# restore_command of one point-in-time restore: waits until the restore has fetched WAL segment $1
# and checked it against its manifest, then moves it to $2; fails for anything it will not fetch.
d={spool}
case "$1" in *[!0-9A-F]*|"") exit 1 ;; esac
while :; do
  if [ -f "$d/$1" ]; then mv -f "$d/$1" "$2" && : > "$d/$1.taken"; exit $?; fi
  if [ -e "$d/$1.taken" ] || [ -e "$d/{end}" ]; then
    [ -f "$d/$1" ] && exec mv -f "$d/$1" "$2"
    exit 1
  fi
  sleep {poll}
done
"""


@dataclass
class WalPlan:
    """The WAL fed to a restore: the segments readied in order, and where the sequence breaks."""

    segments: list[str] = field(default_factory=list)
    missing: str | None = None  # the first segment needed but missing or damaged in every copy
    damaged: list[str] = field(default_factory=list)

    @property
    def last(self) -> str | None:
        return self.segments[-1] if self.segments else None


@dataclass
class SegmentSource:
    """Where one segment can be read: its shipped copies, best tier first, as (opener, stored part);
    and the file in this host's spool (not yet shipped, or the one being written)."""

    name: str
    copies: list[tuple[Callable[[str], BinaryIO], dict]] = field(default_factory=list)
    spooled: Path | None = None


class WalFeed:
    """Fetches ``sources`` in order into ``spool`` in a thread, ``ahead`` segments ahead of replay
    (16 MiB each: the spool stays small, and replay does not wait while fetching keeps up)."""

    def __init__(self, sources: list[SegmentSource], spool: Path, *, ahead: int = 8):
        self.sources, self.spool, self.ahead = sources, spool, ahead
        self.plan = WalPlan()
        self.error: BaseException | None = None
        self._halt = threading.Event()
        context = contextvars.copy_context()  # the age identity file chosen for this restore
        self._thread = threading.Thread(target=context.run, args=(self._run,), name="wal-feed", daemon=True)

    @property
    def restore_command(self) -> str:
        return f"/bin/sh {shlex.quote(str(self.spool / SCRIPT))} %f %p"

    def start(self) -> WalFeed:
        """The spool and its script (the server's user may write there), then the fetching thread."""
        self.spool.mkdir(parents=True, mode=0o700)
        (self.spool / SCRIPT).write_text(SCRIPT_TEXT.format(spool=shlex.quote(str(self.spool)), end=END, poll=POLL_S))
        give_to_server_user(self.spool)
        self._thread.start()
        return self

    def handed(self) -> int:
        """Segments PostgreSQL has taken so far."""
        return sum(1 for entry in os.scandir(self.spool) if entry.name.endswith(".taken"))

    def finish(self, timeout: float = 60) -> WalPlan:
        """Stop fetching (replay is over) and wait for the thread; its plan."""
        self._halt.set()
        if self._thread.ident is not None:  # started
            self._thread.join(timeout)
        return self.plan

    def _run(self) -> None:
        try:
            for source in self.sources:
                if not self._room():
                    return
                if not self._fetch(source):
                    self.plan.missing = source.name
                    return
                self.plan.segments.append(source.name)
        except BaseException as exc:  # raised again by the restore: nothing more is readied
            self.error = exc
        finally:
            (self.spool / END).touch()

    def _ready(self) -> int:
        return sum(1 for entry in os.scandir(self.spool) if SEGMENT.match(entry.name))

    def _room(self) -> bool:
        """Wait until fewer than ``ahead`` segments wait for replay; False once told to stop."""
        while self._ready() >= self.ahead:
            if self._halt.wait(POLL_S):
                return False
        return not self._halt.is_set()

    def _fetch(self, source: SegmentSource) -> bool:
        """Ready one segment from its first intact copy, else the spool; False if there is none."""
        tmp = self.spool / f"{source.name}.part"  # never a damaged segment where the script looks
        for opener, part in source.copies:
            try:
                decompress_to(opener, part, tmp)
            except (DamagedCopy, StorageError, OSError, crypto.AgeKeyError):
                tmp.unlink(missing_ok=True)
                continue
            return self._publish(tmp, source.name)
        if source.copies:
            self.plan.damaged.append(source.name)
        if source.spooled is None:
            return False
        shutil.copyfile(source.spooled, tmp)
        if tmp.stat().st_size < DEFAULT_SEGMENT_SIZE:  # the segment being written: zeros end its WAL
            with open(tmp, "r+b") as fh:
                fh.truncate(DEFAULT_SEGMENT_SIZE)
        return self._publish(tmp, source.name)

    def _publish(self, tmp: Path, name: str) -> bool:
        give_to_server_user(tmp)
        tmp.rename(self.spool / name)
        return True

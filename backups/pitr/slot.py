"""The replication slot on the PITR target and its guard: what the server keeps for the slot is
measured every minute, also when the WAL receiver is down; past ``PITR_SLOT_MAX_BYTES`` the slot is
dropped and the gap recorded. The receiver (``stream``) builds on this; the guard needs none of it."""

from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass
from datetime import datetime

import psycopg
from django.conf import settings
from django.utils import timezone

from pitchey_incidents import events

from ..models import WalStream
from .server import source_url

log = logging.getLogger(__name__)

SLOT_QUERY = """
SELECT pg_current_wal_lsn()::text, s.slot_name IS NOT NULL, s.restart_lsn::text, coalesce(s.active, false),
       s.active_pid, pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::bigint, clock_timestamp()
FROM (SELECT 1) AS one LEFT JOIN pg_replication_slots s ON s.slot_name = %s
"""


@dataclass
class Slot:
    current_lsn: str
    exists: bool
    restart_lsn: str | None
    active: bool
    active_pid: int | None
    lag_bytes: int | None
    at: datetime


def connect(url: str | None = None):
    return psycopg.connect(url or source_url(), autocommit=True, connect_timeout=5)


def read_slot(conn, slot: str) -> Slot:
    return Slot(*conn.execute(SLOT_QUERY, (slot,)).fetchone())


def stream_row(slot: str | None = None) -> WalStream:
    return WalStream.objects.get_or_create(slot=slot or settings.PITR_SLOT)[0]


def record_gap(stream: WalStream, detail: str) -> None:
    """WAL was lost: until a new base backup succeeds, restores cannot cross this moment."""
    stream.gap_at, stream.gap_detail = timezone.now(), detail[:500]
    stream.save(update_fields=["gap_at", "gap_detail"])
    events.emit("backup.wal_gap", f"wal:{stream.slot}", {"slot": stream.slot, "detail": stream.gap_detail})
    log.warning("WAL gap on slot %s: %s", stream.slot, detail)


def slot_guard(*, conn=None, slot: str | None = None, before_drop=None) -> dict:
    """Measure the WAL the server keeps for the slot; drop the slot past ``PITR_SLOT_MAX_BYTES``."""
    slot = slot or settings.PITR_SLOT
    with contextlib.ExitStack() as stack:
        conn = conn or stack.enter_context(connect())
        state = read_slot(conn, slot)
        stream = stream_row(slot)
        stream.lag_bytes, stream.checked_at = state.lag_bytes, timezone.now()
        stream.save(update_fields=["lag_bytes", "checked_at"])
        result = {"slot": slot, "exists": state.exists, "lag_bytes": state.lag_bytes, "dropped": False}
        result["warning"] = bool(state.lag_bytes and state.lag_bytes > settings.PITR_SLOT_WARN_BYTES)
        if state.exists and state.lag_bytes is not None and state.lag_bytes > settings.PITR_SLOT_MAX_BYTES:
            if before_drop:
                before_drop()
            _drop(conn, slot)
            stream.state, stream.detail = "dropped", f"dropped at {state.lag_bytes} bytes behind"
            stream.lag_bytes = None  # the server keeps nothing for it any more
            stream.save(update_fields=["state", "detail", "lag_bytes"])
            record_gap(
                stream,
                f"replication slot {slot} dropped: it kept {state.lag_bytes} bytes of WAL on the server, over "
                f"PITR_SLOT_MAX_BYTES ({settings.PITR_SLOT_MAX_BYTES}); WAL after {state.restart_lsn} is lost",
            )
            result["dropped"] = True
        return result


def _drop(conn, slot: str) -> None:
    """Drop the slot, ending the walsender that holds it first (the same role may)."""
    for _ in range(50):
        state = read_slot(conn, slot)
        if not state.exists:
            return
        if state.active_pid:
            conn.execute("SELECT pg_terminate_backend(%s)", (state.active_pid,))
        try:
            conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
            return
        except psycopg.errors.ObjectInUse:
            threading.Event().wait(0.1)
    raise RuntimeError(f"replication slot {slot} stays in use")

"""Point-in-time recovery for a self-hosted PostgreSQL: physical base backups (``pg_basebackup``), a
continuous WAL stream from a replication slot (``pg_receivewal``, run by ``manage.py wal_receiver``),
both kept on the tiers as backups with manifests, and restores to a moment into a new data directory
started with stock ``postgres``. See docs/backups.md, "Point-in-time recovery"."""

from __future__ import annotations

import time

import psycopg
from django.conf import settings

from .. import targets

_allowed: dict[str, tuple[float, bool]] = {}
ALLOWED_TTL_S = 60.0


def source_url() -> str:
    """The server we archive: ``PITR_DATABASE_URL``; else, with ``PITR_AUTO``, the protected database
    itself when its role may replicate and the server keeps WAL for replicas; else none."""
    if settings.PITR_DATABASE_URL:
        return settings.PITR_DATABASE_URL
    if not settings.PITR_AUTO:
        return ""
    url = targets.database_url()
    return url if targets.is_postgres(url) and allows_replication(url) else ""


def configured() -> bool:
    return bool(source_url())


def allows_replication(url: str) -> bool:
    """Whether ``url``'s role has REPLICATION (or is a superuser) and the server streams WAL (cached a minute)."""
    now = time.monotonic()
    known = _allowed.get(url)
    if known and now - known[0] < ALLOWED_TTL_S:
        return known[1]
    query = """SELECT (SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user)
                      AND current_setting('wal_level') IN ('replica', 'logical')
                      AND current_setting('max_wal_senders')::int > 0"""
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            allowed = bool(conn.execute(query).fetchone()[0])
    except psycopg.Error:
        allowed = False
    _allowed[url] = (now, allowed)
    return allowed

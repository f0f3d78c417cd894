"""Point-in-time recovery for a self-hosted PostgreSQL: physical base backups (``pg_basebackup``), a
continuous WAL stream from a replication slot (``pg_receivewal``, run by ``manage.py wal_receiver``),
both kept on the tiers as backups with manifests, and restores to a moment into a new data directory
started with stock ``postgres``. See docs/backups.md, "Point-in-time recovery"."""

from __future__ import annotations

from django.conf import settings


def configured() -> bool:
    return bool(settings.PITR_DATABASE_URL)

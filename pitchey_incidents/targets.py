"""The protected platform's coordinates. With nothing configured, the platform protects itself:
its own database, its own media and its own Redis (when it has one)."""

from __future__ import annotations

from django.conf import settings


def target_database_url() -> str:
    return settings.TARGET_DATABASE_URL or settings.DATABASE_URL


def target_is_postgres() -> bool:
    return target_database_url().startswith(("postgres://", "postgresql://", "pgsql://"))


def target_redis_url() -> str:
    return settings.TARGET_REDIS_URL or settings.REDIS_URL


def libpq_url(url: str) -> str:
    """psycopg and the pg_* tools know ``postgresql://`` and ``postgres://`` only."""
    for prefix in ("pgsql://", "postgis://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url

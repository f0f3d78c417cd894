"""Protected targets for the emergency controls' tests: a real PostgreSQL database filled by
``pgbench -i``, the local Cloudflare and Neon servers, a throwaway Redis."""

from __future__ import annotations

import subprocess
import uuid
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from pitchey_incidents.testing import database_url_for_subprocess, start_redis

from .fakes import FakeCloudflare, FakeNeon

WRITE = "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = 1"
# Every runbook emergency command, written out here (not read from the code under test): the page
# and the API must each offer exactly these, in this order.
CONTROL_NAMES = (
    "read_only_on",
    "read_only_off",
    "maintenance_on",
    "maintenance_off",
    "purge_edge_cache",
    "flush_app_cache",
    "emergency_backup",
    "scale_database",
    "kill_idle_connections",
    "rollback_deploy",
)


def with_name(url: str, name: str, user: str = "") -> str:
    parts = urlsplit(url)
    netloc = parts.netloc
    if user:
        netloc = f"{user}@{netloc.rsplit('@', 1)[-1]}"
    return urlunsplit(parts._replace(path=f"/{name}", netloc=netloc))


def admin_url() -> str:
    return with_name(database_url_for_subprocess(), "postgres")


def write_once(url: str) -> None:
    """One write on a fresh connection, as the protected application makes it."""
    with psycopg.connect(url, connect_timeout=5, autocommit=True) as conn:
        conn.execute(WRITE)


def read_only_setting(url: str) -> str:
    with psycopg.connect(admin_url(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT option_value FROM pg_db_role_setting s, pg_options_to_table(s.setconfig) "
            "WHERE s.setrole = 0 AND option_name = 'default_transaction_read_only' AND s.setdatabase = "
            "(SELECT oid FROM pg_database WHERE datname = %s)",
            (urlsplit(url).path.lstrip("/"),),
        ).fetchone()
    return row[0] if row else ""


@pytest.fixture
def pg_protected(settings):
    """A protected PostgreSQL database of its own, filled by ``pgbench -i``; TARGET_DATABASE_URL."""
    name = f"ctl_target_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_name(database_url_for_subprocess(), name)
    subprocess.run(["pgbench", "-i", "-q", "-s", "1", url], check=True, capture_output=True, timeout=120)
    settings.TARGET_DATABASE_URL = url
    yield url
    with psycopg.connect(admin_url(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def unprivileged_role():
    """A login role that may connect and write but not ALTER DATABASE (a refusal, for real)."""
    role = f"ctl_user_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER").format(sql.Identifier(role)))
    yield role
    with psycopg.connect(admin_url(), autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,))
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@pytest.fixture
def cf_server(settings):
    server = FakeCloudflare()
    settings.CLOUDFLARE_API_URL = server.url + "/client/v4"
    settings.CF_API_TOKEN, settings.CF_ACCOUNT_ID = server.token, server.account
    settings.CF_ZONE_ID, settings.CF_WORKER_NAME = server.zone, server.worker
    settings.PROVIDER_RETRY_BASE_S = 0.01
    yield server
    server.close()


@pytest.fixture
def neon_server(settings):
    server = FakeNeon()
    settings.NEON_API_URL = server.url + "/api/v2"
    settings.NEON_API_KEY, settings.NEON_PROJECT_ID, settings.NEON_ENDPOINT_ID = (
        server.key,
        server.project,
        server.endpoint,
    )
    settings.NEON_POLL_INTERVAL_S = 0.01
    settings.PROVIDER_RETRY_BASE_S = 0.01
    yield server
    server.close()


@pytest.fixture
def redis_server(tmp_path):
    """A throwaway redis-server: ``base`` is its URL without a database number."""
    proc, url = start_redis(tmp_path)
    yield url.rsplit("/", 1)[0]
    proc.stop()


@pytest.fixture
def no_outside(settings):
    """Nothing configured: no Cloudflare, no protected database."""
    settings.CF_API_TOKEN = settings.CF_ACCOUNT_ID = settings.CF_WORKER_NAME = settings.CF_ZONE_ID = ""
    settings.TARGET_DATABASE_URL = ""

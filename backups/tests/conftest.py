"""Backups tests: each test gets its own BACKUP_DIR, media and config folders; PostgreSQL tests
get a target database of their own with known data (created and dropped here)."""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator

import boto3
import psycopg
import pytest
import requests
from botocore.config import Config
from moto.server import ThreadedMotoServer

from backups import restore, targets
from pitchey_incidents.testing import free_port

from .pgcluster import pitr_source  # noqa: F401  (a fixture)

SEED_SQL = """
CREATE TABLE accounts (id serial PRIMARY KEY, name text NOT NULL, balance numeric(12, 2), notes text);
CREATE TABLE events (id bigserial PRIMARY KEY, account_id int REFERENCES accounts(id), payload jsonb,
                     blob bytea, at timestamptz DEFAULT now());
CREATE INDEX events_account ON events(account_id);
INSERT INTO accounts (name, balance, notes)
  SELECT 'acct-' || g, g * 1.5, repeat(md5(g::text), 1 + g % 7) FROM generate_series(1, 500) g;
INSERT INTO events (account_id, payload, blob)
  SELECT 1 + g % 500, jsonb_build_object('n', g, 'tag', md5(g::text)), decode(md5(g::text), 'hex')
  FROM generate_series(1, 3000) g;
UPDATE accounts SET notes = 'a line' || chr(10) || '\\.' || chr(10) || 'then \\. and a tab' || chr(9) || 'x'
  WHERE id = 7;  -- COPY's own markers inside a row
CREATE TABLE empty_table (id int);
COMMENT ON TABLE accounts IS 'customer accounts';
COMMENT ON INDEX events_account IS 'events by account';
SELECT lo_from_bytea(0, convert_to('a large object, restored in the data section', 'UTF8'));
"""

FINGERPRINT_SQL = """
SELECT (SELECT md5(string_agg(a::text, '|' ORDER BY id)) FROM accounts a),
       (SELECT md5(string_agg(e::text, '|' ORDER BY id)) FROM events e),
       (SELECT count(*) FROM empty_table),
       (SELECT last_value FROM accounts_id_seq),
       (SELECT string_agg(convert_from(lo_get(oid), 'UTF8'), ',') FROM pg_largeobject_metadata),
       obj_description('accounts'::regclass), obj_description('events_account'::regclass),
       (SELECT string_agg(indexdef, ';' ORDER BY indexdef) FROM pg_indexes WHERE schemaname = 'public'),
       (SELECT string_agg(conname || ':' || contype::text, ',' ORDER BY conname) FROM pg_constraint
        WHERE connamespace = 'public'::regnamespace)
"""


def fingerprint(url: str) -> tuple:
    """What the data is, not whether a tool exited 0: a hash of every row of every table, the
    sequence, the large object, comments, indexes and constraints."""
    with psycopg.connect(url) as conn:
        return conn.execute(FINGERPRINT_SQL).fetchone()


@pytest.fixture(autouse=True)
def backup_paths(settings, tmp_path):
    settings.BACKUP_DIR = tmp_path / "backups"
    settings.MEDIA_DIR = str(tmp_path / "media")
    settings.CONFIG_PATHS = []
    settings.R2_BUCKET = ""
    settings.R2_ARCHIVE_BUCKET = ""
    settings.BACKUP_MAX_BYTES_PER_S = 0
    settings.PITR_AUTO = False  # continuous archiving only where a test turns it on
    (tmp_path / "media").mkdir()
    return tmp_path


@pytest.fixture
def pg_target(settings, transactional_db):
    """A PostgreSQL database with known data, set as TARGET_DATABASE_URL."""
    base = targets.database_url()
    name = f"pitchey_target_{secrets.token_hex(4)}"
    url = restore.create_database(base, name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SEED_SQL)
    settings.TARGET_DATABASE_URL = url
    settings.BACKUP_SCRATCH_DATABASE_URL = base
    yield url
    settings.TARGET_DATABASE_URL = ""
    restore.drop_database(base, name)


@pytest.fixture
def sqlite_target(settings, tmp_path):
    path = tmp_path / "target.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (id integer primary key, body text)")
        conn.executemany("INSERT INTO notes (body) VALUES (?)", [(f"note {i} " * 20,) for i in range(400)])
    settings.TARGET_DATABASE_URL = f"sqlite:///{path}"
    return path


def moto_s3(settings, *, locked: tuple[str, ...] = ()) -> Iterator:
    """moto's S3 in server mode on a free port, with the cloud (``pitchey-backups``) and archive
    (``pitchey-archive``) buckets, those in ``locked`` created with S3 Object Lock; the tiers'
    settings point at it. Yields a client of it."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    requests.post(f"{endpoint}/moto-api/reset", timeout=10)  # moto's state is per process: start empty
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="test-key",
        aws_secret_access_key="test-secret",
        region_name="us-east-1",
        config=Config(request_checksum_calculation="when_required"),
    )
    for bucket in ("pitchey-backups", "pitchey-archive"):
        client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=bucket in locked)
    settings.R2_BUCKET, settings.R2_ARCHIVE_BUCKET = "pitchey-backups", "pitchey-archive"
    settings.S3_ENDPOINT_URL, settings.AWS_REGION = endpoint, "us-east-1"
    settings.AWS_ACCESS_KEY_ID, settings.AWS_SECRET_ACCESS_KEY = "test-key", "test-secret"
    settings.BACKUP_S3_PART_SIZE_MB = 5
    try:
        yield client
    finally:
        requests.post(f"{endpoint}/moto-api/reset", timeout=10)
        server.stop()


@pytest.fixture
def s3(settings):
    yield from moto_s3(settings)

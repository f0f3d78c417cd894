"""Restores with stock tools: ``pg_restore -j`` into an existing empty database, scratch databases
created and dropped on the same cluster, SQLite by decompressing the copy."""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import psycopg
from django.conf import settings
from psycopg import sql

from . import manifest as mf
from . import pipeline, targets
from .engines.database import pg_env, pg_row_counts, sqlite_row_counts

Opener = Callable[[str], BinaryIO]


class RestoreError(Exception):
    pass


def _admin_conn(base_url: str):
    return psycopg.connect(base_url, autocommit=True)


def create_database(base_url: str, name: str) -> str:
    """Create database ``name`` on the cluster of ``base_url``; return its URL."""
    with _admin_conn(base_url) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return targets.with_dbname(base_url, name)


def drop_database(base_url: str, name: str) -> None:
    with _admin_conn(base_url) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextlib.contextmanager
def scratch_database(base_url: str | None = None) -> Iterator[str]:
    """A uniquely named, empty database on the same cluster, dropped afterwards. Yields its URL."""
    base = targets.libpq_url(base_url or settings.BACKUP_SCRATCH_DATABASE_URL or targets.database_url())
    if not targets.is_postgres(base):
        raise RestoreError("scratch databases need a PostgreSQL cluster (BACKUP_SCRATCH_DATABASE_URL)")
    name = f"pitchey_scratch_{int(time.time())}_{secrets.token_hex(4)}"
    url = create_database(base, name)
    try:
        yield url
    finally:
        drop_database(base, name)


def temp_dir(label: str) -> Path:
    path = Path(settings.BACKUP_DIR) / ".tmp" / f"{label}-{secrets.token_hex(6)}"
    path.mkdir(parents=True)
    return path


def decompress_to(opener: Opener, part: dict, dest: Path, reporter: pipeline.Reporter | None = None) -> None:
    """Decompress one stored part into ``dest``, checking the stored SHA-256 on the way."""
    with opener(part["file"]) as raw:
        hashed = pipeline.HashingReader(raw)
        reader = pipeline.codec(part["compression"]).reader(hashed)
        with open(dest, "wb") as out:
            while chunk := reader.read(pipeline.CHUNK):
                out.write(chunk)
                if reporter:
                    reporter.add(len(chunk))
        hashed.read()  # the rest, if the codec stopped before the end of the stored bytes
    if hashed.sha.hexdigest() != part["sha256"]:
        raise RestoreError(f"{part['file']}: SHA-256 differs from the manifest; refusing to restore it")


def pg_restore(dump: Path, database_url: str, *, jobs: int = 2, no_owner: bool = True) -> None:
    bare, env = pg_env(database_url)
    argv = ["pg_restore", "--exit-on-error", f"--jobs={jobs}", "-d", bare]
    if no_owner:
        argv += ["--no-owner", "--no-privileges"]
    done = subprocess.run([*argv, str(dump)], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise RestoreError(f"pg_restore exited {done.returncode}: {lines[-1] if lines else 'no output'}")


def restore_part(opener: Opener, part: dict, database_url: str, *, jobs: int = 2) -> dict:
    """Restore a database part (PostgreSQL custom dump or SQLite copy) into ``database_url``."""
    t0 = time.monotonic()
    work = temp_dir("restore")
    try:
        if part["format"] == "sqlite":
            dest = targets.sqlite_path(database_url)
            if dest.exists() and dest.stat().st_size:
                raise RestoreError(f"{dest} exists and is not empty")
            decompress_to(opener, part, work / "db.sqlite3")
            shutil.move(work / "db.sqlite3", dest)
            import sqlite3

            with contextlib.closing(sqlite3.connect(dest)) as conn:
                tables = sqlite_row_counts(conn)
        elif part["format"] == "pg_dump-custom":
            dump = work / "database.pgdump"
            decompress_to(opener, part, dump)
            pg_restore(dump, database_url, jobs=jobs)
            with psycopg.connect(database_url) as conn:
                tables = pg_row_counts(conn)
        else:
            raise RestoreError(f"not a database part: {part['format']}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"tables": tables, "duration_s": round(time.monotonic() - t0, 3)}


def database_part(manifest: dict) -> dict:
    for part in mf.stored_parts(manifest):
        if part["part"] == "database":
            return part
    raise RestoreError(f"backup {manifest.get('id')} has no database part")


def location_opener(location) -> Opener:
    from .storage import for_tier, for_uri

    try:
        storage = for_tier(location.tier)
    except Exception:
        storage = for_uri(location.uri)
    return lambda name: storage.open(storage.sibling(location.uri, name))


def restore_database(*, backup, database_url: str, jobs: int = 2) -> dict:
    """Restore ``backup``'s database into the existing, empty database at ``database_url``.

    Reads the first copy that passes its checksum, local first. Returns
    ``{"tables": {name: rows}, "duration_s": …, "tier": …}``."""
    from .storage import StorageError

    part = database_part(backup.manifest)
    errors = []
    order = {"local": 0, "cloud": 1, "archive": 2}
    for location in sorted(backup.locations.all(), key=lambda loc: order.get(loc.tier, 9)):
        try:
            return restore_part(location_opener(location), part, database_url, jobs=jobs) | {"tier": location.tier}
        except (RestoreError, StorageError, OSError) as exc:
            if isinstance(exc, RestoreError) and "SHA-256" not in str(exc):
                raise  # the copy was intact; the restore itself failed
            errors.append(f"{location.tier}: {exc}")
    raise RestoreError("no intact copy: " + "; ".join(errors) if errors else "backup has no stored copy")


def file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(pipeline.CHUNK):
            sha.update(chunk)
    return sha.hexdigest()

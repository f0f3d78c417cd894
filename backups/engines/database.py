"""Database engines: PostgreSQL through pg_dump (custom format), SQLite through its online backup API."""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import psycopg
from django.utils import timezone

from .. import pgtools, pipeline, targets
from .base import BackupFailed, Context, Engine, register, run_checked
from .follow import Followed, compress_following

ROW_COUNTS_SQL = """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
"""


def pg_env(url: str) -> tuple[str, dict]:
    bare, password = targets.split_password(url)
    env = dict(os.environ)
    if password:
        env["PGPASSWORD"] = password
    return bare, env


def pg_row_counts(conn, known: dict[str, int] | None = None) -> dict[str, int]:
    """Exact rows of every user table (``schema.table``); ``known`` ones are taken as given."""
    counts = {}
    for schema, table in conn.execute(ROW_COUNTS_SQL).fetchall():
        name = f"{schema}.{table}"
        counts[name] = known[name] if known and name in known else pg_count(conn, schema, table)
    return counts


def pg_count(conn, schema: str, table: str) -> int:
    query = psycopg.sql.SQL("SELECT count(*) FROM {}").format(psycopg.sql.Identifier(schema, table))
    return conn.execute(query).fetchone()[0]


@register
class PostgresEngine(Engine):
    """1. Export a snapshot in a repeatable-read transaction (its time is the RPO anchor).
    2. ``pg_dump -Fc -Z0 --snapshot`` to a file (a seekable file keeps data offsets, so
       ``pg_restore -j`` stays parallel), counting rows per table in the same snapshot meanwhile.
    3. Compress and hash the dump through the pipeline; keep the roles (``pg_dumpall --globals-only``)."""

    name = "postgres"

    def run(self, ctx: Context) -> list[dict]:
        url = targets.database_url()
        bare, env = pg_env(url)
        raw = ctx.workdir / "database.pgdump"
        # The roles meanwhile: pg_dumpall waits on the server as much as it works, and a small
        # database's backup would otherwise wait for it after the dump.
        roles = _Background(self._globals, bare, env, replace(ctx, reporter=pipeline.Reporter()))
        try:
            complete, counts, server = self._dump(url, bare, env, raw, ctx)
        except BaseException:
            roles.join()  # nothing of this backup is written after it has failed
            raise
        with open(raw, "rb") as fh:
            if fh.read(5) != b"PGDMP":
                raise BackupFailed("pg_dump output is not a custom-format archive")
        ctx.reporter.start("compress", raw.stat().st_size)
        followed = complete()
        ctx.reporter.set(raw.stat().st_size)
        # Freeing a dump of many GB takes a while and nothing waits for it (the work folder goes anyway).
        threading.Thread(target=raw.unlink, kwargs={"missing_ok": True}, name="drop-dump", daemon=True).start()
        ctx.info.update(
            {
                "server_version": server,
                "pg_dump_version": _dump_version(followed),
                "target": targets.redact_url(url),
            }
        )
        parts = [
            followed.describe()
            | {"part": "database", "format": "pg_dump-custom", "compression": ctx.compression, "tables": counts}
        ]
        parts += roles.result()
        return parts

    def _dump(
        self, url: str, bare: str, env: dict, raw: Path, ctx: Context
    ) -> tuple[Callable[[], Followed], dict[str, int], str]:
        """Steps 1 and 2, following the dump as it is written. Returns what completes the stored
        copy, the rows per table in the snapshot and the server's version."""
        try:
            conn = psycopg.connect(url, autocommit=False)
        except psycopg.Error as exc:
            raise BackupFailed(f"cannot connect to the database: {str(exc).strip().splitlines()[0]}") from None
        with conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            # The snapshot's time on the app's clock, like every other time of the backup (started,
            # finished, the files' snapshots, the RPO age): the database server's clock may differ by
            # seconds or more. Read just before the transaction starts, so the data is at least this fresh.
            snapshot_at = timezone.now()
            snapshot, server, size = conn.execute(
                "SELECT pg_export_snapshot(), current_setting('server_version'), pg_database_size(current_database())"
            ).fetchone()
            ctx.took_snapshot(snapshot_at)
            argv = [pgtools.program("pg_dump"), "-Fc", "-Z0", f"--snapshot={snapshot}", "-f", str(raw), "-d", bare]
            complete, counts = _follow_counting(conn, _Dump(argv, env, raw, ctx, expected=size), raw, ctx)
            conn.rollback()
        return complete, counts, server

    def _globals(self, bare: str, env: dict, ctx: Context) -> list[dict]:
        """Roles and tablespaces; a non-superuser may not read passwords, then we keep roles without them."""
        raw = ctx.workdir / "globals.sql"
        notes = []
        for extra in ([], ["--no-role-passwords"]):
            try:
                run_checked(
                    [pgtools.program("pg_dumpall"), "--globals-only", *extra, "-d", bare],
                    env=env,
                    output=raw,
                    ctx=ctx,
                    phase="globals",
                    expected=0,
                )
                break
            except BackupFailed as exc:
                notes.append(str(exc))
        else:
            return [{"part": "globals", "skipped": True, "reason": "; ".join(notes)}]
        stored = pipeline.store_file(
            raw,
            ctx.outdir / f"{ctx.stem}.globals.sql{ctx.suffix()}",
            tmp_dir=ctx.workdir,
            compression=ctx.compression,
            level=ctx.level,
        )
        entry = stored.describe() | {"part": "globals", "format": "sql", "compression": ctx.compression}
        if notes:
            entry["note"] = "without role passwords: " + notes[0]
        return [entry]


def _follow_counting(
    conn: psycopg.Connection, dump: _Dump, raw: Path, ctx: Context
) -> tuple[Callable[[], Followed], dict[str, int]]:
    """Run ``dump``, compressing its file as it grows, while the rows of every table are counted in
    the same snapshot on ``conn``."""
    counts_box: dict = {}

    def count() -> None:
        try:
            counts_box["tables"] = pg_row_counts(conn)
        except Exception as exc:  # reported below, in this thread
            counts_box["error"] = exc

    counter = threading.Thread(target=count, daemon=True)
    dest = ctx.outdir / f"{ctx.stem}.dump{ctx.suffix()}"
    dump.start()
    counter.start()
    try:
        complete = compress_following(
            raw,
            dest,
            finished=lambda: not dump.alive(),
            pause=dump.wait,
            tmp_dir=ctx.workdir,
            compression=ctx.compression,
            level=ctx.level,
        )
    finally:
        dump.finish()
        counter.join()
    if "tables" not in counts_box:
        raise BackupFailed(f"row counts of the snapshot could not be read: {counts_box.get('error')}")
    return complete, counts_box["tables"]


def _dump_version(followed: Followed) -> str:
    """As ``pg_dump --version`` prints it: read from the archive's header rather than run again."""
    if followed.dump_version:
        return f"pg_dump (PostgreSQL) {followed.dump_version}"
    return pgtools.version("pg_dump")


class _Background:
    """``fn(*args)`` in a thread of its own; ``result()`` waits for it and returns (or raises) what it did."""

    def __init__(self, fn, *args):
        self._box: dict = {}
        self._thread = threading.Thread(target=self._run, args=(fn, args), daemon=True)
        self._thread.start()

    def _run(self, fn, args) -> None:
        try:
            self._box["result"] = fn(*args)
        except BaseException as exc:  # re-raised in the calling thread
            self._box["error"] = exc

    def join(self) -> None:
        self._thread.join()

    def result(self):
        self._thread.join()
        if "error" in self._box:
            raise self._box["error"]
        return self._box["result"]


class _Dump:
    """pg_dump in a thread of its own, so the snapshot's row counts run at the same time."""

    def __init__(self, argv, env, raw, ctx, expected):

        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(argv, env, raw, ctx, expected), daemon=True)

    def _run(self, argv, env, raw, ctx, expected):
        try:
            run_checked(argv, env=env, output=raw, ctx=ctx, phase="dump", expected=expected, to_stdout=False)
        except BaseException as exc:  # re-raised in the calling thread
            self.error = exc

    def start(self):
        self._thread.start()

    def alive(self) -> bool:
        return self._thread.is_alive()

    def wait(self, seconds: float) -> None:
        """Up to ``seconds``, returning at once when pg_dump has exited."""
        self._thread.join(seconds)

    def finish(self):
        self._thread.join()
        if self.error:
            raise self.error


@register
class SqliteEngine(Engine):
    """SQLite's online backup API copies a consistent database while others keep writing."""

    name = "sqlite"

    def run(self, ctx: Context) -> list[dict]:
        url = targets.database_url()
        path = targets.sqlite_path(url)
        if not path.exists():
            raise BackupFailed(f"no SQLite database at {path}")
        raw = ctx.workdir / "database.sqlite3"
        ctx.reporter.start("dump", path.stat().st_size)
        src = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        dst = sqlite3.connect(raw)
        try:
            ctx.took_snapshot(timezone.now())
            src.backup(
                dst, pages=1024, progress=lambda _s, remaining, total: ctx.reporter.set((total - remaining) * 4096)
            )
            counts = sqlite_row_counts(dst)
        finally:
            src.close()
            dst.close()
        ctx.reporter.start("compress", raw.stat().st_size)
        stored = pipeline.store_file(
            raw,
            ctx.outdir / f"{ctx.stem}.sqlite3{ctx.suffix()}",
            tmp_dir=ctx.workdir,
            compression=ctx.compression,
            level=ctx.level,
            reporter=ctx.reporter,
        )
        raw.unlink()
        ctx.info.update({"server_version": f"SQLite {sqlite3.sqlite_version}", "target": str(path)})
        return [
            stored.describe()
            | {"part": "database", "format": "sqlite", "compression": ctx.compression, "tables": counts}
        ]


def sqlite_row_counts(conn) -> dict[str, int]:
    names = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    return {name: conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in names}


def which(tool: str) -> bool:
    return shutil.which(tool) is not None

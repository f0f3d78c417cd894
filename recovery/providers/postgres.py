"""The protected PostgreSQL: health, idle connections, and restoring a backup.

A restore goes into a new database first; only when it has finished do we switch, by renaming the
damaged database aside (kept as ``<name>_pre_<time>`` for forensics) and the new one into its place,
so connection strings do not change. In ``scratch`` mode (drills) it restores into a throwaway
database, compares row counts with the live one, and drops it.
"""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit, urlunsplit

import psycopg
from django.conf import settings
from django.db import connection
from django.utils import timezone
from psycopg import sql

from backups import pitr, restore, selectors, services
from backups.engines.database import pg_row_counts
from backups.models import Backup
from backups.targets import database_url
from pitchey_incidents.targets import libpq_url, target_is_postgres

from .. import runcontext
from .base import Outcome, Provider, register

IDLE_SQL = (
    "SELECT pid, usename, application_name, state_change FROM pg_stat_activity WHERE state = 'idle' "
    "AND pid <> pg_backend_pid() AND datname = current_database() "
    "AND state_change < now() - make_interval(mins => %s) ORDER BY state_change"
)
TERMINATE_SQL = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY(%s)"
SESSIONS_SQL = (
    "SELECT pid, backend_xid IS NOT NULL FROM pg_stat_activity WHERE datname = current_database() "
    "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
)
READ_ONLY_SETTING_SQL = (
    "SELECT option_value FROM pg_db_role_setting s, pg_options_to_table(s.setconfig) "
    "WHERE s.setrole = 0 AND s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND option_name = 'default_transaction_read_only'"
)
# Our own session on the target must be able to write the setting back even while it is on.
WRITABLE_SESSION = "-c default_transaction_read_only=off"
TABLES_SQL = (
    "SELECT schemaname, relname FROM pg_stat_user_tables "
    "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
)


def with_database(url: str, name: str) -> str:
    parts = urlsplit(libpq_url(url))
    return urlunsplit(parts._replace(path="/" + name))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def row_counts(url: str) -> dict[str, int]:

    with psycopg.connect(libpq_url(url), connect_timeout=5, autocommit=True) as conn:
        return pg_row_counts(conn)


def switch_databases(url: str, new_name: str, *, attempts: int = 10) -> str:
    """Rename the database of ``url`` aside and ``new_name`` into its place; return the aside name."""
    name = database_name(libpq_url(url))
    aside = f"{name}_pre_{timezone.now():%Y%m%d%H%M%S}"[:63]
    with psycopg.connect(with_database(url, "postgres"), connect_timeout=5, autocommit=True) as conn:
        for attempt in range(attempts):
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            try:
                conn.execute(
                    sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(name), sql.Identifier(aside))
                )
                break
            except psycopg.errors.ObjectInUse:
                if attempt == attempts - 1:
                    raise
                time.sleep(0.2)
        conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(new_name), sql.Identifier(name)))
    return aside


def create_database(url: str, name: str) -> None:
    with psycopg.connect(with_database(url, "postgres"), connect_timeout=5, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(url: str, name: str) -> None:
    with psycopg.connect(with_database(url, "postgres"), connect_timeout=5, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def target_database_url() -> str:
    """The protected database (``TARGET_DATABASE_URL``, else the one this process is connected to)."""

    return database_url()


def choose_backup(backup: int | None):

    if backup:
        return Backup.objects.filter(id=backup, kind="database").first()
    return selectors.latest_verified_backup(kind="database")


def database_address(url: str) -> tuple[str, int, str]:
    """(host, port, database) of a PostgreSQL URL with defaults resolved (localhost → its address,
    no host → the local socket, port 5432)."""
    parts = urlsplit(libpq_url(url))
    host = parts.hostname or "localhost"
    try:
        host = socket.gethostbyname(host)
    except OSError:
        pass
    return host, parts.port or 5432, parts.path.lstrip("/")


def own_database_addresses() -> set[tuple[str, int, str]]:
    """Where this tool keeps its own data: ``DATABASE_URL`` and the database it is connected to."""
    found = set()
    if settings.DATABASE_URL.startswith(("postgres://", "postgresql://", "pgsql://")):
        found.add(database_address(settings.DATABASE_URL))
    own = connection.settings_dict
    if own.get("ENGINE", "").endswith("postgresql"):
        host = own.get("HOST") or "localhost"
        try:
            host = socket.gethostbyname(host)
        except OSError:
            pass
        found.add((host, int(own.get("PORT") or 5432), own.get("NAME") or ""))
    return found


def protected_database() -> tuple[str, str]:
    """The protected PostgreSQL's URL, or '' and why it may not be switched (never our own)."""
    url = settings.TARGET_DATABASE_URL
    if not url or not target_is_postgres():
        return "", "set TARGET_DATABASE_URL to the protected PostgreSQL (our own database is never switched)"
    where = database_address(url)
    if where in own_database_addresses():
        return "", f"refused: TARGET_DATABASE_URL is this tool's own database ({where[0]}:{where[1]}/{where[2]})"
    return libpq_url(url), ""


def _end_sessions(conn: psycopg.Connection, url: str) -> tuple[int, int]:
    """End every other client session of the database so it reconnects with the new default; return
    (ended, of which in a write transaction)."""
    sessions = conn.execute(SESSIONS_SQL).fetchall()
    runcontext.record("SQL", url, TERMINATE_SQL % ("{" + ",".join(str(p) for p, _ in sessions) + "}"))
    ended = [pid for pid, _ in sessions if conn.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]]
    return len(ended), sum(1 for pid, writing in sessions if writing and pid in ended)


def set_read_only(url: str, *, on: bool, previous: str = "") -> dict:
    """``ALTER DATABASE … SET default_transaction_read_only`` (or back to ``previous``), then end
    the sessions opened under the old default. Returns what was there before and what was done."""
    with psycopg.connect(url, connect_timeout=5, autocommit=True, options=WRITABLE_SESSION) as conn:
        name = conn.execute("SELECT current_database()").fetchone()[0]
        before = conn.execute(READ_ONLY_SETTING_SQL).fetchone()
        ident = sql.Identifier(name)
        if on:
            statement = sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = on").format(ident)
        elif previous:
            statement = sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = {}").format(
                ident, sql.Literal(previous)
            )
        else:
            statement = sql.SQL("ALTER DATABASE {} RESET default_transaction_read_only").format(ident)
        runcontext.record("SQL", url, statement.as_string(conn))
        conn.execute(statement)
        ended, writing = _end_sessions(conn, url)
    return {"database": name, "previous": before[0] if before else "", "ended": ended, "writing": writing}


@register
class Postgres(Provider):
    name = "postgres"
    label = "PostgreSQL"
    idempotent = frozenset(
        {"health", "terminate_idle", "restore_scratch", "source_counts", "check_copy", "consumer_check"}
    )

    def available(self):
        return (True, "") if target_is_postgres() else (False, "set TARGET_DATABASE_URL to a PostgreSQL URL")

    def do_health(self, *, dry_run: bool, min_tables: int = 1) -> Outcome:
        started = time.monotonic()
        try:
            with psycopg.connect(libpq_url(target_database_url()), connect_timeout=5, autocommit=True) as conn:
                conn.execute("SELECT 1")
                tables = len(conn.execute(TABLES_SQL).fetchall())
                connections = conn.execute("SELECT count(*) FROM pg_stat_activity").fetchone()[0]
                limit = int(conn.execute("SHOW max_connections").fetchone()[0])
        except psycopg.Error as exc:
            return Outcome(False, f"database unreachable: {str(exc).splitlines()[0][:200]}")
        ms = round((time.monotonic() - started) * 1000, 1)
        ok = tables >= min_tables
        return Outcome(
            ok,
            f"answers in {ms} ms; {tables} table(s); {connections}/{limit} connections",
            {"latency_ms": ms, "tables": tables, "connections": connections, "max_connections": limit},
        )

    def do_terminate_idle(self, *, dry_run: bool, idle_minutes: int = 10) -> Outcome:
        """The runbook's ``pg_terminate_backend`` on sessions idle for longer than the limit; a dry run
        lists them (pid, user, application, idle since)."""
        url = libpq_url(target_database_url())
        with psycopg.connect(url, connect_timeout=5, autocommit=True) as conn:
            rows = conn.execute(IDLE_SQL, (int(idle_minutes),)).fetchall()
            sessions = [
                {"pid": pid, "user": user, "application": app or "", "idle_since": since.isoformat()}
                for pid, user, app, since in rows
            ]
            pids = [row["pid"] for row in sessions]
            runcontext.record("SQL", url, TERMINATE_SQL % ("{" + ",".join(map(str, pids)) + "}"), sent=not dry_run)
            if dry_run:
                listed = "; ".join(f"{x['pid']} {x['user']} {x['application']}".strip() for x in sessions[:20])
                summary = f"would terminate {len(pids)} idle connection(s)" + (f": {listed}" if listed else "")
                return Outcome(True, summary, {"pids": pids, "sessions": sessions})
            killed = [pid for pid in pids if conn.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]]
        return Outcome(True, f"terminated {len(killed)} idle connection(s)", {"pids": killed, "sessions": sessions})

    def do_read_only(self, *, dry_run: bool, on: bool = True, previous: str = "") -> Outcome:
        """Make the protected database refuse writes (or accept them again); never our own."""
        url, why = protected_database()
        if not url:
            refused = why.startswith("refused")
            return Outcome(
                False,
                why,
                {} if refused else {"missing": {"what": "protected PostgreSQL", "hint": why}},
                skipped=not refused,
            )
        host, port, name = database_address(url)
        where = f"{host}:{port}/{name}"
        if dry_run:
            verb = "SET default_transaction_read_only = on" if on else "RESET default_transaction_read_only"
            runcontext.record("SQL", url, f"ALTER DATABASE {database_name(url)} {verb}", sent=False)
            return Outcome(True, f"would make {where} {'read-only' if on else 'writable'} and end its sessions")
        try:
            done = set_read_only(url, on=on, previous=previous)
        except psycopg.Error as exc:
            return Outcome(False, f"PostgreSQL {where} refused: {str(exc).splitlines()[0][:200]}")
        state = "read-only" if on else "writable again"
        output = f"PostgreSQL {where} is {state}; ended {done['ended']} session(s) ({done['writing']} writing)"
        return Outcome(True, output, done)

    def do_restore(self, *, dry_run: bool, backup: int | None = None, jobs: int = 2) -> Outcome:
        """Restore a backup (default: the newest verified) into a new database and switch to it."""

        url = libpq_url(target_database_url())
        chosen = choose_backup(backup)
        if chosen is None:
            return Outcome(False, "no verified database backup to restore")
        name = database_name(url)
        if not settings.TARGET_DATABASE_URL and not settings.RECOVERY_ALLOW_SELF_RESTORE:
            return Outcome(False, "the target is this tool's own database; set TARGET_DATABASE_URL")
        described = {"backup": chosen.id, "snapshot_at": chosen.snapshot_at.isoformat(), "data_type": "database"}
        if dry_run:
            return Outcome(
                True, f"would restore backup #{chosen.id} ({chosen.snapshot_at:%Y-%m-%d %H:%M}) into {name}", described
            )
        new_name = f"{name}_restore_{int(time.time())}"[:63]
        create_database(url, new_name)
        try:
            with services.retention_paused(f"recovery restore of backup #{chosen.id}"):
                result = restore.restore_database(
                    backup=chosen, database_url=with_database(url, new_name), jobs=int(jobs)
                )
        except Exception:
            drop_database(url, new_name)
            raise
        aside = switch_databases(url, new_name)
        tables = result.get("tables", {})
        return Outcome(
            True,
            f"restored backup #{chosen.id} ({len(tables)} tables, {sum(tables.values())} rows) in "
            f"{result.get('duration_s', 0):.1f}s; damaged database kept as {aside}",
            described | {"tables": tables, "duration_s": result.get("duration_s"), "kept_as": aside},
        )

    def do_restore_scratch(self, *, dry_run: bool, backup: int | None = None, jobs: int = 2) -> Outcome:
        """Drill: restore into a scratch database, compare row counts with the live one, drop it."""

        chosen = choose_backup(backup)
        if chosen is None:
            return Outcome(False, "no verified database backup to restore")
        described = {"backup": chosen.id, "snapshot_at": chosen.snapshot_at.isoformat(), "data_type": "database"}
        if dry_run:
            return Outcome(True, f"would restore backup #{chosen.id} into a scratch database", described)
        url = libpq_url(target_database_url())
        with services.retention_paused(f"drill restore of backup #{chosen.id}"), restore.scratch_database() as scratch:
            result = restore.restore_database(backup=chosen, database_url=scratch, jobs=int(jobs))
            restored = row_counts(scratch)
        live = row_counts(url)
        missing = sorted(set(live) - set(restored))
        differ = {t: [restored[t], live[t]] for t in sorted(set(live) & set(restored)) if restored[t] != live[t]}
        ok = bool(restored) and not missing
        summary = (
            f"{len(restored)} tables, {sum(restored.values())} rows restored in {result.get('duration_s', 0):.1f}s"
        )
        if missing:
            summary += f"; missing: {', '.join(missing[:5])}"
        if differ:
            summary += f"; {len(differ)} table(s) changed since the snapshot"
        return Outcome(ok, summary, described | {"tables": restored, "missing": missing, "differ": differ})

    def do_source_counts(self, *, dry_run: bool) -> Outcome:
        """Drill: the rows of every table of what a copy is made from (the protected database, and the
        PITR source when there is one), counted before the copy, to compare the copy with afterwards."""
        if dry_run:
            return Outcome(True, "would count the rows of the protected database (and of the PITR source)")
        sources = {"target": target_database_url()} | ({"pitr": pitr.source_url()} if pitr.configured() else {})
        counted, failed = {}, []
        for name, url in sources.items():
            try:
                counted[name] = row_counts(url)
            except psycopg.Error as exc:
                failed.append(f"{name}: {str(exc).splitlines()[0][:200]}")
        said = "; ".join(f"{n}: {len(c)} tables, {sum(c.values())} rows" for n, c in counted.items())
        return Outcome(not failed, "; ".join([said, *failed]).strip("; "), counted)

    def do_check_copy(
        self, *, dry_run: bool, uri: str = "", source: str = "target", before: dict | None = None
    ) -> Outcome:
        """Drill: a copy of the protected database (a Neon branch, a PITR copy) answers and holds every
        table of its source with the same rows: exact where the source did not change during the drill
        (``before``: counted at its start), between the two counts where it did."""
        if not uri:
            return Outcome(False, "no connection URI for the copy (the step that made it gave none)")
        if dry_run:
            return Outcome(True, "would connect to the copy and compare its tables and rows with its source")
        started = time.monotonic()
        try:
            copy = row_counts(uri)
        except psycopg.errors.InsufficientPrivilege as exc:
            return _unreadable("the copy", uri, exc)
        except psycopg.Error as exc:
            return Outcome(False, f"the copy does not answer: {str(exc).splitlines()[0][:200]}")
        ms = round((time.monotonic() - started) * 1000, 1)
        source_url = pitr.source_url() if source == "pitr" else target_database_url()
        try:
            after = row_counts(source_url)
        except psycopg.errors.InsufficientPrivilege as exc:
            return _unreadable("the source", source_url, exc)
        return compare_copy(copy, before or None, after, ms)

    def do_consumer_check(self, *, dry_run: bool, uri: str = "") -> Outcome:
        """Drill: point a scratch consumer at the copy: connect as an application would, write a row
        into a temporary table (the copy must be writable, not a standby), read it back."""
        if not uri:
            return Outcome(False, "no connection URI for the copy")
        if dry_run:
            return Outcome(True, "would write and read a row on the copy as a scratch consumer")
        token = f"drill-{time.time_ns()}"
        try:
            with psycopg.connect(
                libpq_url(uri), connect_timeout=5, autocommit=True, application_name="pitchey-drill-consumer"
            ) as conn:
                conn.execute("CREATE TEMP TABLE pitchey_drill_consumer (token text PRIMARY KEY)")
                conn.execute("INSERT INTO pitchey_drill_consumer (token) VALUES (%s)", (token,))
                seen = conn.execute("SELECT token FROM pitchey_drill_consumer WHERE token = %s", (token,)).fetchone()
        except psycopg.Error as exc:
            return Outcome(False, f"the scratch consumer failed: {str(exc).splitlines()[0][:200]}")
        ok = bool(seen and seen[0] == token)
        return Outcome(ok, "a scratch consumer wrote and read a row on the copy" if ok else "the row did not come back")


def _unreadable(which: str, url: str, exc: psycopg.Error) -> Outcome:
    """The role may connect but not read every table: the comparison cannot be made (inconclusive)."""
    role = urlsplit(libpq_url(url)).username or "the connecting role"
    gap = {"what": f"read access for {role} on {which}", "hint": f"GRANT pg_read_all_data TO {role}"}
    said = f"cannot count the rows of {which}: {str(exc).splitlines()[0][:200]}"
    return Outcome(False, said, {"missing": gap}, skipped=True)


def compare_copy(copy: dict[str, int], before: dict[str, int] | None, after: dict[str, int], ms: float) -> Outcome:
    """Failed when a table of the source is missing from the copy, or a table the source held steady
    through the drill has other rows in the copy; unproven (inconclusive) when a table changed during
    the drill and the copy lies outside both counts (with nothing counted before: differs from now)."""
    new = set(after) - set(before) if before else set()  # created during the drill
    missing = sorted(set(after) - set(copy) - new)
    differ, unsettled = {}, {}
    for table in sorted(set(after) & set(copy)):
        was, now, held = (before or {}).get(table), after[table], copy[table]
        if was == now:
            if held != was:
                differ[table] = {"copy": held, "source": was}
        elif held != now and (was is None or not min(was, now) <= held <= max(was, now)):
            unsettled[table] = {"copy": held, "before": was, "after": now}
    unsettled |= {table: {"copy": None, "before": None, "after": after[table]} for table in sorted(new - set(copy))}
    summary = f"the copy answers in {ms} ms: {len(copy)} tables, {sum(copy.values())} rows"
    if missing:
        summary += f"; missing: {', '.join(missing[:5])}"
    for table, n in list(differ.items())[:5]:
        summary += f"; {table}: {n['copy']} rows in the copy, {n['source']} in the source"
    if unsettled:
        summary += f"; changed during the drill, not comparable: {', '.join(list(unsettled)[:5])}"
    data = {"tables": copy, "missing": missing, "differ": differ, "unsettled": unsettled}
    if not copy or missing or differ:
        return Outcome(False, summary, data)
    if unsettled:
        gap = {"what": "a copy comparable with its source", "hint": "run the drill when the source is quiet"}
        return Outcome(True, summary, data | {"unverified": gap})
    return Outcome(True, summary + "; every table and row count matches the source", data)

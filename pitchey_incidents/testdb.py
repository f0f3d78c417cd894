"""Transactional tests start from the database as the migrations seeded it, quickly.

Django's serialized rollback empties every table after each transactional test and loads the seeded rows
(about 500: permissions, the runbook's catalog, schedules) back one ORM save at a time: one to three
seconds per test, for some 300 tests. Here the seeded state is taken once, Django's way (flush, then
Django loads its serialized copy), and kept as COPY data per table with a digest of each table's rows.
Before and after each test, one query compares every table's digest with the seeded one; only the tables
whose rows differ are emptied and copied back, in one transaction (Django's foreign keys are deferrable,
so the order does not matter), and checked again. Each test so starts with exactly the seeded rows in
every table, as before. Sequences are left alone, as Django's flush leaves them. Anything this does not
handle (another database vendor, reset_sequences, available_apps, fixtures) or any error while
restoring falls back to Django's own flush and load, and the seeded state is taken again.
"""

from __future__ import annotations

from django.core.management import call_command
from django.db import DatabaseError, connections, transaction
from django.test import TransactionTestCase

ALIAS = "default"
DJANGO_SETUP = TransactionTestCase.__dict__["_fixture_setup"]  # a classmethod object
DJANGO_TEARDOWN = TransactionTestCase.__dict__["_fixture_teardown"]


class SeededState:
    """Every Django table's rows as COPY data, with a digest of the rows to compare against."""

    def __init__(self, connection) -> None:
        self.connection = connection
        names = connection.introspection.django_table_names(only_existing=True, include_views=False)
        with connection.cursor() as cursor:
            self.columns = {name: self._columns(cursor, name) for name in sorted(names)}
            self.data = {name: self._copy_out(cursor, name) for name in self.columns}
        self.digests = self.digest(self.columns)

    def _columns(self, cursor, table: str) -> str:
        described = self.connection.introspection.get_table_description(cursor, table)
        return ", ".join(self.connection.ops.quote_name(column.name) for column in described)

    def _copy_out(self, cursor, table: str) -> bytes:
        quoted = self.connection.ops.quote_name(table)
        with cursor.cursor.copy(f"COPY {quoted} ({self.columns[table]}) TO STDOUT") as copy:
            return b"".join(bytes(block) for block in copy)

    def digest(self, tables) -> dict[str, str]:
        """md5 of each table's rows (as text, sorted; over the seeded columns, in their order)."""
        quote = self.connection.ops.quote_name
        parts = [
            f"SELECT %s, md5(coalesce(string_agg(ROW({cols})::text, E'\\n' ORDER BY ROW({cols})::text), ''))"
            f" FROM {quote(table)}"
            for table, cols in ((table, self.columns[table]) for table in tables)
        ]
        if not parts:
            return {}
        with self.connection.cursor() as cursor:
            cursor.execute(" UNION ALL ".join(parts), list(tables))
            return dict(cursor.fetchall())

    def changed(self) -> list[str]:
        now = self.digest(self.columns)
        return [table for table, digest in self.digests.items() if now[table] != digest]

    def restore(self) -> list[str]:
        """Put back the seeded rows of every table that differs; the tables restored."""
        tables = self.changed()
        if not tables:
            return []
        quote = self.connection.ops.quote_name
        with transaction.atomic(using=ALIAS), self.connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            for table in tables:
                cursor.execute(f"DELETE FROM {quote(table)}")
            for table in tables:
                if self.data[table]:
                    with cursor.cursor.copy(f"COPY {quote(table)} ({self.columns[table]}) FROM STDIN") as copy:
                        copy.write(self.data[table])
        still = [table for table, digest in self.digest(tables).items() if digest != self.digests[table]]
        if still:
            raise DatabaseError(f"tables still differ from the seeded rows after restoring them: {still}")
        return tables


class Seeds:
    """The seeded state of the test database, taken on first use."""

    state: SeededState | None = None

    @classmethod
    def reset_the_django_way(cls, test_class) -> None:
        """What Django does between two serialized-rollback tests: flush, then load the serialized rows."""
        call_command(
            "flush", verbosity=0, interactive=False, database=ALIAS, reset_sequences=False, inhibit_post_migrate=True
        )
        DJANGO_SETUP.__get__(None, test_class)()
        cls.state = SeededState(connections[ALIAS])

    @classmethod
    def restore(cls, test_class) -> None:
        if cls.state is None:
            cls.reset_the_django_way(test_class)
            return
        try:
            cls.state.restore()
        except DatabaseError:
            cls.reset_the_django_way(test_class)  # a table dropped or changed under us (migration tests)


def handled(test_class) -> bool:
    """Tests this module resets: serialized rollback on PostgreSQL, nothing else asked of Django."""
    return (
        test_class.serialized_rollback
        and not test_class.reset_sequences
        and test_class.available_apps is None
        and not test_class.fixtures
        and set(test_class.databases) == {ALIAS}
        and connections[ALIAS].vendor == "postgresql"
    )


def fixture_setup(cls) -> None:
    if handled(cls):
        Seeds.restore(cls)
    else:
        DJANGO_SETUP.__get__(None, cls)()


def fixture_teardown(self) -> None:
    if handled(type(self)):
        Seeds.restore(type(self))
    else:
        DJANGO_TEARDOWN(self)


def install(monkeypatch) -> None:
    """Use this module's setup and teardown for Django's transactional tests (for the monkeypatch's life)."""
    monkeypatch.setattr(TransactionTestCase, "_fixture_setup", classmethod(fixture_setup))
    monkeypatch.setattr(TransactionTestCase, "_fixture_teardown", fixture_teardown)

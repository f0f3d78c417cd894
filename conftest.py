"""Fixtures shared by every app's tests: users per role (one refused), API clients, real processes."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from backups.tests.pgcluster import pitr_cluster  # noqa: F401  (a fixture: one PITR cluster per test process)
from pitchey_incidents import testdb
from pitchey_incidents.roles import ROLES
from pitchey_incidents.testing import install_exit_cleanup, parallel_worker_env

# Fixtures that create databases or roles on this test's PostgreSQL server (recovery/tests/targets.py):
# a test that uses one, directly or through another fixture, needs PostgreSQL as if it were marked.
POSTGRES_FIXTURES = frozenset({"pg_protected", "unprivileged_role"})


def pytest_configure(config):
    install_exit_cleanup()  # servers, workers and clusters a test started do not outlive a killed run


def pytest_collection_modifyitems(config, items):
    # Transactional tests flush the database afterwards; serialized rollback restores what the
    # migrations seeded (role groups, the runbook's catalog, schedules) before each of them. This is
    # the one mechanism for it: a test that needs the seeds relies on it, none re-seeds by hand. On
    # PostgreSQL it is done table by table, only where rows differ (seeded_rows_restored_quickly below).
    for item in items:
        marker = item.get_closest_marker("django_db")
        kwargs = dict(marker.kwargs) if marker else {}
        transactional = kwargs.get("transaction") or "transactional_db" in getattr(item, "fixturenames", ())
        if transactional and "serialized_rollback" not in kwargs:
            kwargs.update(transaction=True, serialized_rollback=True)
            item.add_marker(pytest.mark.django_db(**kwargs), append=False)
    if "postgresql" in settings.DATABASES["default"]["ENGINE"]:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgres://… (.ci/run does)")
    for item in items:
        if "postgres" in item.keywords or POSTGRES_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(skip)


@pytest.fixture(autouse=True, scope="session")
def seeded_rows_restored_quickly():
    """Transactional tests get the seeded rows back table by table, only where a test changed them
    (pitchey_incidents/testdb.py): the same starting state as Django's flush and reload, in a fraction of
    the time."""
    with pytest.MonkeyPatch.context() as patch:
        testdb.install(patch)
        yield


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_setupnodes(config, specs):
    """A parallel run (pytest-xdist): each worker gets Redis databases of its own for the broker and
    REDIS_URL, in its environment before it reads the settings; the processes its tests start inherit them.
    Its test database (``…_gw0``), folders and queue prefix are its own already."""
    for index, spec in enumerate(specs):
        try:
            spec.env.update(parallel_worker_env(index, len(specs)))
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None


def pytest_sessionfinish(session, exitstatus):
    # This test process's own folders (settings.py names them ``…-test-<pid>``), never one the environment named.
    for folder in (settings.BROKER_DIR, settings.BACKUP_DIR, settings.PITR_SPOOL_DIR, settings.PITR_RESTORE_DIR):
        if Path(folder).name.endswith(f"-test-{os.getpid()}"):
            shutil.rmtree(folder, ignore_errors=True)


def make_user(username: str, role: str | None) -> User:
    user = User.objects.create_user(username=username, password="pw-" + username, email=f"{username}@example.com")
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def users(db) -> dict[str, User]:
    """One user per role, plus ``nobody``: logged in, but with no role, and refused everywhere."""
    made = {role: make_user(role, role) for role in ROLES}
    made["nobody"] = make_user("nobody", None)
    return made


@pytest.fixture
def api(users):
    """``api(role)`` → an APIClient authenticated with that user's token; ``api(None)`` → anonymous."""

    def client(role: str | None) -> APIClient:
        c = APIClient()
        if role:
            token, _ = Token.objects.get_or_create(user=users[role])
            c.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return c

    return client


@pytest.fixture
def worker(tmp_path, transactional_db):
    """``worker(**opts)`` starts a real Celery worker on this test's database and broker."""
    from pitchey_incidents.celery import app
    from pitchey_incidents.testing import start_worker

    # A message an earlier test left queued (a beat tick, a task nobody consumed) must not run against this
    # test's database: the queues are this session's own (per-process prefix), so emptying them is safe.
    app.control.purge()
    started = []

    def start(**opts):
        proc = start_worker(tmp_path, **opts)
        started.append(proc)
        return proc

    yield start
    # The test is over and what its workers would still do is not under test: they are killed with their
    # pool, not asked to stop, which takes Celery two seconds or more each (its pool's threads wake once a
    # second). Stopping cleanly on SIGTERM is a subject of its own (pitchey_incidents/tests/test_runner.py).
    for proc in started:
        proc.kill()
        proc.stop()


class Clock:
    """The time as the code under test sees it (``django.utils.timezone.now``), set and moved by the test."""

    def __init__(self, monkeypatch, start: datetime):
        self.now = start
        real_now = timezone.now
        monkeypatch.setattr(timezone, "now", self.read)
        # ``default=timezone.now`` holds the function itself, not the module attribute: point those
        # defaults (and the field's cached copy of it) at this clock too, or new rows get the wall clock.
        # The cached copy first: reading it caches the real default, which is what undoing puts back.
        for model in apps.get_models():
            for field in model._meta.concrete_fields:
                if field.default is real_now:
                    monkeypatch.setattr(field, "_get_default", self.read)
                    monkeypatch.setattr(field, "default", self.read)

    def read(self) -> datetime:
        return self.now

    def set(self, when: datetime) -> datetime:
        self.now = when
        return self.now

    def advance(self, **kw) -> datetime:
        self.now += timedelta(**kw)
        return self.now


CLOCK_START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday; tests that need another "now" set it


@pytest.fixture
def clock(monkeypatch) -> Clock:
    """A test that reads "now" sets it: ``clock.set(...)`` / ``clock.advance(minutes=5)``."""
    return Clock(monkeypatch, CLOCK_START)

"""The reset between transactional tests (pitchey_incidents/testdb.py) puts back exactly the seeded rows:
changed, added and deleted rows, in tables other seeded rows refer to, and only in the tables that differ."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.models import ContentType
from django.db import connections
from django.test import TransactionTestCase
from django_celery_beat.models import IntervalSchedule

from conftest import CLOCK_START
from pitchey_incidents.models import WorkerHeartbeat
from pitchey_incidents.testdb import ALIAS, SeededState, Seeds

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_test_starts_from_the_seeded_rows_as_django_loads_them():
    assert Seeds.state is not None  # taken at this test's setup at the latest
    fresh = SeededState(connections[ALIAS])
    assert fresh.digests == Seeds.state.digests
    assert Group.objects.count() == 4 and IntervalSchedule.objects.exists() and not User.objects.exists()


def test_changed_added_and_deleted_rows_come_back_in_the_changed_tables_only(users):
    kind = ContentType.objects.get(app_label="auth", model="group")
    kind.model = "renamed"  # a row the permissions (unchanged) refer to: emptied and loaded back under them
    kind.save()
    permission_id = Permission.objects.exclude(content_type=kind).first().id
    Permission.objects.filter(id=permission_id).delete()
    Group.objects.filter(name="viewer").update(name="changed")
    WorkerHeartbeat.objects.create(hostname="w", queue="critical", started_at=CLOCK_START, seen_at=CLOCK_START)
    changed = set(Seeds.state.changed())
    assert {"django_content_type", "auth_permission", "auth_group", "auth_user", "auth_user_groups"} <= changed
    assert "pitchey_incidents_workerheartbeat" in changed and "django_celery_beat_intervalschedule" not in changed

    assert set(Seeds.state.restore()) == changed
    assert Seeds.state.changed() == []
    assert ContentType.objects.get(id=kind.id).model == "group" and Permission.objects.filter(id=permission_id)
    assert Group.objects.filter(name="viewer").exists() and not Group.objects.filter(name="changed").exists()
    assert not WorkerHeartbeat.objects.exists() and not User.objects.exists()
    assert Seeds.state.restore() == []  # nothing differs: nothing is touched


class SerializedRollback(TransactionTestCase):
    serialized_rollback = True


def test_an_error_while_restoring_falls_back_to_djangos_flush_and_load(monkeypatch):
    Group.objects.filter(name="viewer").update(name="changed")
    broken = Seeds.state
    monkeypatch.setitem(broken.columns, "auth_group", '"id", "no_such_column"')  # as if a migration dropped it
    Seeds.restore(SerializedRollback)
    assert Seeds.state is not broken and Seeds.state.changed() == []
    assert Group.objects.filter(name="viewer").exists() and not Group.objects.filter(name="changed").exists()

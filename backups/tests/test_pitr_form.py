"""The restore-to-time form on the backups page: a moment typed in the viewer's own time zone brings up
a real PostgreSQL with exactly the rows committed before it, followed as a restore with its steps;
bad input is shown in the form, field by field, and changes nothing; only commanders may use it."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone

from backups import restores
from backups.models import Restore, Status
from pitchey_incidents.models import UserPreference
from pitchey_incidents.testing import wait_for
from pitchey_incidents.timefmt import format_timestamp

from .pgcluster import Running, base_backup_done, rows, server_now, shipped, write

pytestmark = pytest.mark.django_db(transaction=True)
ZONE = "Asia/Kolkata"  # +05:30: a zone whose offset is not whole hours


def _client(user, zone: str = "UTC") -> Client:
    UserPreference.objects.update_or_create(user=user, defaults={"time_zone": zone})
    client = Client()
    client.force_login(user)  # the zone is remembered in the session at login
    return client


def _post(client: Client, **fields) -> tuple[int, str]:
    answer = client.post("/backups/pitr/restore/", {"confirm": "yes", **fields})
    return answer.status_code, answer.content.decode()


@pytest.mark.postgres
def test_a_moment_in_the_viewers_zone_restores_exactly_the_rows_committed_before_it(pitr_source, users):
    with Running():
        wait_for(base_backup_done, timeout=120, message="the first base backup")
        write(pitr_source, 1, 2, 3)
        written = server_now(pitr_source)
        target = (written + timedelta(seconds=1)).replace(microsecond=0)  # after rows 1-3, to the second
        wait_for(lambda: server_now(pitr_source) > target + timedelta(seconds=0.3), timeout=10)
        write(pitr_source, 4, 5)
        shipped(pitr_source)

    local = target.astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%dT%H:%M:%S")  # what the form's field sends
    client = _client(users["commander"], ZONE)
    answer = client.post("/backups/pitr/restore/", {"to_time": local, "confirm": "yes"})
    assert answer.status_code == 302, answer.content.decode()[:2000]
    row = Restore.objects.get()
    assert (
        datetime.fromisoformat(row.to_time) == target
        and row.to_time.endswith("+00:00")
        and row.status == Status.QUEUED
        and row.requested_by == "commander"
    )

    page = client.get("/backups/").content.decode()
    assert f"Point-in-time restore {row.id}" in page and "waiting for a worker" in page

    assert restores.restore_execute(restore_id=row.id) == "done"  # what the worker's task does
    row.refresh_from_db()
    assert row.status == Status.SUCCEEDED, row.error
    assert row.result["complete"] and rows(row.result["url"]) == [1, 2, 3]
    assert row.result["url"] in row.detail and "pg_ctl" in row.detail  # where it runs and how to stop it
    page = client.get("/backups/").content.decode()
    assert row.result["url"] in page and "to the moment" in page
    with timezone.override(ZoneInfo(ZONE)):
        assert format_timestamp(target, seconds=True) in page  # the moment, shown in the viewer's zone


@pytest.mark.postgres
def test_bad_input_is_shown_in_the_form_and_changes_nothing(pitr_source, users):
    client = _client(users["commander"])
    status, html = _post(client, to_time="")
    assert status == 400 and "to_time: give a date and time" in html and 'aria-invalid="true"' in html
    status, html = _post(client, to_time="2999-01-01T00:00")
    assert status == 400 and "to_time: is in the future" in html and 'value="2999-01-01T00:00"' in html
    status, html = _post(client, to_time="yesterday-ish")
    assert status == 400 and "to_time: not a date and time" in html
    status, html = _post(client, to_time="2020-01-01T00:00")  # before every base backup (there is none)
    assert status == 400 and "to_time: no base backup finished before 2020-01-01T00:00:00+00:00" in html
    status, html = _post(client, latest="1", port="80")
    assert status == 400 and "port: must be between 1024 and 65535" in html
    status, html = _post(client, latest="1", port="fifty")
    assert status == 400 and "port: must be a number" in html
    answer = client.post("/backups/pitr/restore/", {"latest": "1"})
    assert answer.status_code == 400 and "confirm: tick the box" in answer.content.decode()
    assert not Restore.objects.exists()


@pytest.mark.postgres
def test_only_commanders_may_restore_to_a_moment(pitr_source, users):
    for role in ("viewer", "responder", "nobody"):
        client = _client(users[role])
        assert client.post("/backups/pitr/restore/", {"latest": "1", "confirm": "yes"}).status_code == 403
        if role != "nobody":
            page = client.get("/backups/").content.decode()
            assert "Restore the database to a moment" not in page and "Restore…" not in page
    page = _client(users["commander"]).get("/backups/").content.decode()
    assert "Restore the database to a moment" in page and 'type="datetime-local"' in page
    assert not Restore.objects.exists()

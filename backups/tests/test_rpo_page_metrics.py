"""RPO status per data type: states by age, the backups page (live fragment), metrics, schedules."""

from __future__ import annotations

import pytest
from celery import current_app
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import ModelEntry

from backups import metrics, selectors
from backups.models import Backup, Status

from .factories import verified_backup

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def plain_static(settings):
    # Pages are rendered without `collectstatic` in tests.
    settings.STORAGES = settings.STORAGES | {
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    }


def test_rpo_states_follow_target_and_maximum(clock):
    verified_backup("database", 1800)  # target 1 h → ok
    verified_backup("config", 13 * 3600)  # target 12 h, max 24 h → warning
    verified_backup("media", 3 * 86400)  # max 48 h → breach
    verified_backup("media", 60, verified=False)  # a newer but unverified backup does not count
    states = {r["data_type"]: (r["state"], r["age_s"]) for r in selectors.rpo_status()}
    assert states["database"][0] == "ok" and 1790 <= states["database"][1] <= 1810
    assert states["config"][0] == "warning"
    assert states["media"][0] == "breach"
    assert states["sessions"] == ("unknown", None)


def test_full_backup_counts_for_every_data_type(clock):
    verified_backup("full", 600)
    states = {r["data_type"]: r["state"] for r in selectors.rpo_status()}
    assert states["database"] == states["config"] == states["media"] == "ok"


def test_backup_without_copies_does_not_count(clock):
    backup = verified_backup("database", 60)
    backup.locations.all().delete()
    assert selectors.latest_verified_backup("database") is None
    assert {r["data_type"]: r["state"] for r in selectors.rpo_status()}["database"] == "unknown"


def test_metrics_collect(clock):
    verified_backup("database", 100)
    families = {name: (kind, samples) for name, kind, _help, samples in metrics.collect()}
    kind, samples = families["pitchey_rpo_state"]
    assert kind == "gauge"
    assert ({"data_type": "database"}, 0) in samples and ({"data_type": "sessions"}, -1) in samples
    assert ({"kind": "database", "status": "succeeded"}, 1) in families["pitchey_backups"][1]
    ages = dict((labels["data_type"], v) for labels, v in families["pitchey_rpo_age_seconds"][1])
    assert 95 <= ages["database"] <= 105


def test_backups_page_and_live_fragment(client, users):
    backup = Backup.objects.create(
        kind="media",
        status=Status.RUNNING,
        progress={"phase": "media", "done_bytes": 50, "total_bytes": 200, "percent": 25.0},
    )
    client.force_login(users["viewer"])
    page = client.get("/backups/")
    html = page.content.decode()
    assert page.status_code == 200 and "Recovery point objectives" in html and "<progress" in html
    assert 'value="25.0"' in html and "Take a backup now" not in html
    fragment = client.get("/backups/", headers={"HX-Request": "true"}).content.decode()
    # The live part alone (swapped into #live on each backup or restore event), with the step list.
    assert fragment.lstrip().startswith('<section class="panel" aria-labelledby="h-running"')
    assert "<html" not in fragment
    assert f"Backup {backup.id}" in fragment and "25.0%" in fragment and "media" in fragment
    client.force_login(users["nobody"])
    assert client.get("/backups/").status_code == 403
    assert client.post("/backups/start/", {"kind": "media"}).status_code == 403


def test_page_needs_login(client):
    assert client.get("/backups/").status_code == 302


def test_commander_starts_a_backup_from_the_page(client, users, django_capture_on_commit_callbacks):
    client.force_login(users["commander"])
    assert "Take a backup now" in client.get("/backups/").content.decode()
    with django_capture_on_commit_callbacks(execute=False):
        answer = client.post("/backups/start/", {"kind": "config"})
    assert answer.status_code == 302
    assert Backup.objects.get().kind == "config"
    client.post("/backups/start/", {"kind": "bogus"})
    assert Backup.objects.count() == 1


def test_schedules_are_periodic_tasks_from_the_policies(capsys):
    tasks = {t.name: t for t in PeriodicTask.objects.filter(task__startswith="backups.")}
    every = {name: t.interval.every for name, t in tasks.items()}
    assert every["backups: database"] == 6 * 3600 and every["backups: config"] == 12 * 3600
    assert every["backups: media"] == 86400 and every["backups: full"] == 7 * 86400
    assert every["backups: prune"] == 86400 and every["backups: verify latest (restore test)"] == 86400
    assert tasks["backups: database"].kwargs == '{"kind": "database"}'
    call_command("backup", "schedule")
    out = capsys.readouterr().out
    assert "backups: database" in out and "every 21600 seconds" in out


def test_a_new_install_backs_up_each_data_type_at_beats_first_tick():
    """django-celery-beat's own scheduler entry: the database, config and media backups are due at
    once on a new install (then every interval); the weekly full backup waits for its week."""

    tasks = {t.name: t for t in PeriodicTask.objects.filter(name__startswith="backups: ")}
    due = {name: ModelEntry(task, app=current_app).is_due().is_due for name, task in tasks.items()}
    assert due["backups: database"] and due["backups: config"] and due["backups: media"]
    assert not due["backups: full"] and not due["backups: prune"]
    ran = tasks["backups: database"]
    ran.last_run_at = ran.start_time
    assert not ModelEntry(ran, app=current_app).is_due().is_due  # then every six hours


def test_admin_shows_backups_and_policies(client, users):
    backup = verified_backup("database", 10)
    users["admin"].is_staff = users["admin"].is_superuser = True
    users["admin"].save()
    client.force_login(users["admin"])
    assert client.get("/admin/backups/backuppolicy/").status_code == 200
    assert client.get(f"/admin/backups/backup/{backup.id}/change/").status_code == 200
    assert client.get("/admin/django_celery_beat/periodictask/?q=backups").status_code == 200

"""The restore button of a backup: a confirmation page saying what will happen, a dry run that changes
nothing, refusals shown in the form, and a restore that puts the backed-up files back. Commanders only."""

from __future__ import annotations

import pytest
from django.test import Client

from backups import restores, services
from backups.models import Restore, Status

pytestmark = pytest.mark.django_db(transaction=True)


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def media_backup(backup_paths):
    media = backup_paths / "media"
    (media / "kept.txt").write_text("as backed up")
    backup = services.backup_start(kind="media", actor="t", inline=True)
    backup.refresh_from_db()
    assert backup.status == Status.SUCCEEDED, backup.error
    (media / "kept.txt").write_text("changed since")
    (media / "new.txt").write_text("added since")
    return backup, media


def test_the_confirmation_says_what_will_happen_and_a_dry_run_changes_nothing(media_backup, users):
    backup, media = media_backup
    client = _client(users["commander"])
    listing = client.get("/backups/").content.decode()
    assert f'href="/backups/{backup.id}/restore/"' in listing
    page = client.get(f"/backups/{backup.id}/restore/").content.decode()
    assert f"media: replaces the folder {media}" in page and "Dry run" in page

    answer = client.post(f"/backups/{backup.id}/restore/", {"action": "dry_run"})
    html = answer.content.decode()
    assert answer.status_code == 200 and "Dry run: nothing was changed" in html
    assert "0 files would be added, 1 replaced, 1 removed" in html
    dry = Restore.objects.get()
    assert dry.dry_run and dry.changes["removed"] == [str(media / "new.txt")]
    assert dry.changes["replaced"] == [str(media / "kept.txt")]
    assert (media / "kept.txt").read_text() == "changed since" and (media / "new.txt").exists()


def test_refusals_are_shown_in_the_form_and_nothing_starts(media_backup, users):
    backup, media = media_backup
    client = _client(users["commander"])
    answer = client.post(f"/backups/{backup.id}/restore/", {"action": "restore"})
    assert answer.status_code == 400 and "confirm: tick the box" in answer.content.decode()
    answer = client.post(
        f"/backups/{backup.id}/restore/", {"action": "restore", "confirm": "yes", "into": "relative/x"}
    )
    assert answer.status_code == 400 and "into: must be an absolute path" in answer.content.decode()
    assert 'value="relative/x"' in answer.content.decode()  # what was typed stays
    assert not Restore.objects.exists()


def test_a_confirmed_restore_puts_the_files_back(media_backup, users):
    backup, media = media_backup
    answer = _client(users["commander"]).post(f"/backups/{backup.id}/restore/", {"action": "restore", "confirm": "yes"})
    assert answer.status_code == 302 and answer["Location"] == "/backups/"
    row = Restore.objects.get()
    assert row.status == Status.QUEUED and not row.dry_run and row.requested_by == "commander"
    assert restores.restore_execute(restore_id=row.id) == "done"  # what the worker's task does
    row.refresh_from_db()
    assert row.status == Status.SUCCEEDED, row.error
    assert (media / "kept.txt").read_text() == "as backed up" and not (media / "new.txt").exists()


def test_only_commanders_see_and_use_the_restore_button(media_backup, users):
    backup, _ = media_backup
    for role in ("viewer", "responder"):
        client = _client(users[role])
        assert "/restore/" not in client.get("/backups/").content.decode()
        assert client.get(f"/backups/{backup.id}/restore/").status_code == 403
        assert client.post(f"/backups/{backup.id}/restore/", {"action": "restore", "confirm": "yes"}).status_code == 403
    assert not Restore.objects.exists()

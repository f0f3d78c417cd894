"""Immutable copies: the archive tier in a bucket of its own with S3 Object Lock, on moto's server
(which implements Object Lock): locked until the retention date, never sent a DELETE by retention."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from django.core.management import call_command
from django.utils import timezone

from backups import services
from backups.models import Backup, BackupLocation, Status
from backups.storage import REGISTRY, Locked
from backups.storage.s3 import S3Storage
from pitchey_incidents.models import AuditEntry

from .conftest import moto_s3

pytestmark = pytest.mark.django_db(transaction=True)
# The S3 server keeps a lock by its own wall clock, so these tests age their backups against the same
# clock (not the test clock): a retain-until date must be in the server's future to lock anything.


@pytest.fixture
def locked_s3(settings):
    """The archive bucket with Object Lock, locked in compliance mode; the cloud bucket without."""
    settings.BACKUP_OBJECT_LOCK = {"cloud": "", "archive": "compliance"}
    yield from moto_s3(settings, locked=("pitchey-archive",))


def _key(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _deletes_sent(tier: str) -> list[str]:
    """Record every DeleteObject sent to the tier's bucket from now on."""
    sent: list[str] = []
    storage = REGISTRY[tier]

    def record(request, **_) -> None:
        if f"/{storage.bucket}/" in request.url:
            sent.append(request.url)

    storage.client.meta.events.register("before-send.s3.DeleteObject", record)
    return sent


def test_archive_copies_are_locked_until_their_retention_date(locked_s3, sqlite_target, capsys):
    backup = services.backup_start(kind="database", actor="t", inline=True)
    assert backup.status == Status.SUCCEEDED, backup.error
    archive = backup.locations.get(tier="archive")
    expires = datetime.fromisoformat(backup.manifest["retention"]["archive"]["expires_at"])
    assert archive.expires_at == expires and expires > timezone.now() + timedelta(days=89)  # the 90-day row
    bucket, key = _key(archive.uri)
    for name in (key, key.split(".")[0] + ".manifest.json"):  # the files and the manifest alike
        head = locked_s3.head_object(Bucket=bucket, Key=name)
        assert head["ObjectLockMode"] == "COMPLIANCE"
        assert abs(head["ObjectLockRetainUntilDate"] - expires) < timedelta(seconds=1)
        # The server refuses to delete the data itself (a plain DELETE only hides it behind a marker).
        with pytest.raises(ClientError, match="AccessDenied"):
            locked_s3.delete_object(Bucket=bucket, Key=name, VersionId=head["VersionId"])
    cloud = backup.locations.get(tier="cloud")
    assert "ObjectLockMode" not in locked_s3.head_object(Bucket="pitchey-backups", Key=_key(cloud.uri)[1])

    # verify reports the lock, mode and date.
    verified = services.backup_verify(backup_id=backup.id).verification["tiers"]
    assert verified["archive"]["lock"]["mode"] == "compliance" and verified["archive"]["lock"]["locked"]
    assert verified["archive"]["lock"]["retain_until"][:19] == expires.astimezone(UTC).isoformat()[:19]
    assert (
        f"locked: compliance mode until {verified['archive']['lock']['retain_until']}" in verified["archive"]["detail"]
    )
    assert "lock" not in verified["cloud"] and "lock" not in verified["local"]
    call_command("backup", "verify", str(backup.id))
    assert "🔒 archive: locked: compliance mode until 20" in capsys.readouterr().out


def test_kept_indefinitely_means_a_legal_hold(locked_s3, backup_paths):
    (backup_paths / "media" / "a.txt").write_text("x" * 1000)
    backup = services.backup_start(kind="media", actor="t", inline=True)
    assert backup.status == Status.SUCCEEDED, backup.error
    archive = backup.locations.get(tier="archive")
    assert archive.expires_at is None  # the retention table keeps media in the archive forever
    bucket, key = _key(archive.uri)
    assert locked_s3.get_object_legal_hold(Bucket=bucket, Key=key)["LegalHold"]["Status"] == "ON"
    version = locked_s3.head_object(Bucket=bucket, Key=key)["VersionId"]
    with pytest.raises(ClientError, match="AccessDenied"):
        locked_s3.delete_object(Bucket=bucket, Key=key, VersionId=version)
    lock = services.backup_verify(backup_id=backup.id).verification["tiers"]["archive"]["lock"]
    assert lock["legal_hold"] and lock["locked"]


def test_the_storage_refuses_deletion_until_the_date_then_removes_every_version(locked_s3, tmp_path):
    storage = S3Storage(
        tier="archive", bucket="pitchey-archive", prefix="", client=locked_s3, lock_mode="governance", part_size=5 << 20
    )
    path = tmp_path / "copy.bin"
    path.write_bytes(b"x" * 1000)
    until = (datetime.now(UTC) + timedelta(seconds=2)).replace(microsecond=0) + timedelta(seconds=1)
    uri = storage.put(path, "database/copy.bin", retain_until=until.isoformat())
    assert storage.lock(uri) == {
        "mode": "governance",
        "retain_until": until.isoformat(),
        "legal_hold": False,
        "locked": True,
    }
    sent = []
    locked_s3.meta.events.register("before-send.s3.DeleteObject", lambda request, **_: sent.append(request.url))
    with pytest.raises(Locked, match="governance mode until"):
        storage.delete(uri)
    assert sent == []  # refused here: no DELETE went out, not even one that would leave a marker
    assert locked_s3.get_object(Bucket="pitchey-archive", Key="database/copy.bin")["Body"].read() == b"x" * 1000

    deadline = time.monotonic() + 15
    while storage.lock(uri)["locked"]:  # the date is the server's to reach
        assert time.monotonic() < deadline, "the lock never ended"
        time.sleep(0.2)
    storage.delete(uri)
    listed = locked_s3.list_object_versions(Bucket="pitchey-archive", Prefix="database/copy.bin")
    assert not listed.get("Versions") and not listed.get("DeleteMarkers")  # gone, not hidden


def test_prune_skips_locked_copies_and_says_so(locked_s3, sqlite_target, capsys):
    old = services.backup_start(kind="database", actor="t", inline=True)
    new = services.backup_start(kind="database", actor="t", inline=True)
    assert old.status == new.status == Status.SUCCEEDED
    Backup.objects.filter(id=old.id).update(snapshot_at=timezone.now() - timedelta(days=120))
    sent = _deletes_sent("archive")

    dry = services.backups_prune(actor="t", dry_run=True)
    assert {(d["backup"], d["tier"]) for d in dry["deleted"]} == {(old.id, "local"), (old.id, "cloud")}
    assert [(s["backup"], s["tier"]) for s in dry["skipped"]] == [(old.id, "archive")]

    result = services.backups_prune(actor="t")
    assert {(d["backup"], d["tier"]) for d in result["deleted"]} == {(old.id, "local"), (old.id, "cloud")}
    skipped = result["skipped"]
    assert [(s["backup"], s["tier"]) for s in skipped] == [(old.id, "archive")]
    assert skipped[0]["reason"].startswith("locked: compliance mode until ") and skipped[0]["lock"]["locked"]
    assert sent == []  # the locked copy was never sent a DELETE
    archive = BackupLocation.objects.get(backup=old, tier="archive")  # still in the catalog
    bucket, key = _key(archive.uri)
    assert locked_s3.head_object(Bucket=bucket, Key=key)["ObjectLockMode"] == "COMPLIANCE"
    assert AuditEntry.objects.filter(action="backup.prune_skipped_locked").count() == 2  # the dry run and the run

    call_command("backup", "prune")
    out = capsys.readouterr().out
    assert f"🔒 kept backup {old.id} database archive: locked: compliance mode until" in out
    assert "0 copies deleted; 1 locked copy kept until their lock ends" in out


def test_prune_racing_an_upload_never_deletes_the_newest_verified_copy(locked_s3, sqlite_target):
    """A prune that runs while a backup uploads to the locked archive: the only verified copies are
    old ones, past their retention; the copy in flight is not verified yet. Nothing of the newest
    verified backup goes, locked or not, and the upload completes."""
    old = services.backup_start(kind="database", actor="t", inline=True)
    # Past every tier's retention of database backups (7, 30 and 90 days).
    Backup.objects.filter(id=old.id).update(snapshot_at=timezone.now() - timedelta(days=120))
    pruned: list[dict] = []

    def prune_mid_upload(reporter) -> None:
        if reporter.phase == "upload archive" and not pruned:
            pruned.append(services.backups_prune(actor="t"))

    services.progress_listeners.append(prune_mid_upload)
    try:
        new = services.backup_start(kind="database", actor="t", inline=True)
    finally:
        services.progress_listeners.remove(prune_mid_upload)
    assert new.status == Status.SUCCEEDED, new.error
    assert pruned and pruned[0]["deleted"] == [] and pruned[0]["skipped"] == []
    assert set(BackupLocation.objects.filter(backup=old).values_list("tier", flat=True)) == {
        "local",
        "cloud",
        "archive",
    }
    assert Path(old.locations.get(tier="local").uri.removeprefix("file://")).exists()

    # Once the new backup is verified, the old copies go, but the locked one.
    after = services.backups_prune(actor="t")
    assert {d["tier"] for d in after["deleted"]} == {"local", "cloud"}
    assert [s["tier"] for s in after["skipped"]] == ["archive"]


def test_a_plan_that_no_longer_holds_is_not_carried_out(locked_s3, sqlite_target, monkeypatch):
    """Between the plan and a deletion, the newer copy fails its verification: the planned copy is
    now the newest verified one in its tier and stays."""
    old = services.backup_start(kind="database", actor="t", inline=True)
    new = services.backup_start(kind="database", actor="t", inline=True)
    Backup.objects.filter(id=old.id).update(snapshot_at=timezone.now() - timedelta(days=45))
    plan = services.prune_plan

    def plan_then_lose_the_newer_copy(**kwargs):
        planned = plan(**kwargs)
        BackupLocation.objects.filter(backup=new, tier="local").update(verified_at=None)
        return planned

    monkeypatch.setattr(services, "prune_plan", plan_then_lose_the_newer_copy)
    result = services.backups_prune(actor="t")
    assert [(d["backup"], d["tier"]) for d in result["deleted"]] == [(old.id, "cloud")]
    assert BackupLocation.objects.filter(backup=old, tier="local").exists()
    assert Path(old.locations.get(tier="local").uri.removeprefix("file://")).exists()


def test_the_archive_can_have_credentials_of_its_own(locked_s3, sqlite_target, settings):
    settings.ARCHIVE_AWS_ACCESS_KEY_ID, settings.ARCHIVE_AWS_SECRET_ACCESS_KEY = "archive-key", "archive-secret"
    archive = REGISTRY["archive"]
    assert archive.client is not REGISTRY["cloud"].client
    assert archive.client._request_signer._credentials.access_key == "archive-key"
    backup = services.backup_start(kind="database", actor="t", inline=True)
    assert backup.status == Status.SUCCEEDED, backup.error
    assert backup.locations.get(tier="archive").verified_at

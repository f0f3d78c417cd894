"""Cloud and archive tiers on a real S3-compatible server (moto in server mode)."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from backups import restore, services
from backups.models import Backup, BackupLocation, Status
from backups.pipeline import Reporter
from backups.storage.s3 import S3Storage
from pitchey_incidents.testing import free_port

pytestmark = pytest.mark.django_db(transaction=True)
MIB = 1 << 20


def _key(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def test_multipart_upload_sends_equal_parts_each_with_its_sha256(s3, tmp_path):
    sent = {}  # part number -> (bytes on the wire, SHA-256 header); the transfer sends parts concurrently

    def record(request, **_):
        number = int(parse_qs(urlsplit(request.url).query)["partNumber"][0])
        sent[number] = (int(request.headers["Content-Length"]), request.headers["x-amz-checksum-sha256"].decode())

    s3.meta.events.register("before-send.s3.UploadPart", record)
    path = tmp_path / "big.bin"
    data = os.urandom(12 * MIB + 123)
    path.write_bytes(data)
    reporter = Reporter()
    uri = S3Storage(tier="cloud", bucket="pitchey-backups", prefix="p/", client=s3, part_size=5 * MIB).put(
        path, "media/big.bin", reporter
    )
    assert uri == "s3://pitchey-backups/p/media/big.bin" and reporter.done == len(data)
    assert [sent[n][0] for n in sorted(sent)] == [5 * MIB, 5 * MIB, 2 * MIB + 123]
    for n in sorted(sent):
        part = data[(n - 1) * 5 * MIB : n * 5 * MIB]
        assert sent[n][1] == base64.b64encode(hashlib.sha256(part).digest()).decode()
    assert s3.get_object(Bucket="pitchey-backups", Key="p/media/big.bin")["Body"].read() == data


def test_a_failed_multipart_upload_is_aborted_and_its_error_raised(s3, tmp_path):
    class Lost(Exception):
        pass

    def abort_after_first_part(r):
        if r.done >= 5 * MIB:
            raise Lost("heartbeat lost")

    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(11 * MIB))
    reporter = Reporter(listeners=[abort_after_first_part])
    with pytest.raises(Lost):
        S3Storage(tier="cloud", bucket="pitchey-backups", prefix="", client=s3, part_size=5 * MIB).put(
            path, "media/big.bin", reporter
        )
    assert "Uploads" not in s3.list_multipart_uploads(Bucket="pitchey-backups")
    assert "Contents" not in s3.list_objects_v2(Bucket="pitchey-backups")


def test_a_file_of_one_part_goes_up_whole_with_its_sha256(s3, tmp_path):
    sent = []
    s3.meta.events.register("before-send.s3.*", lambda request, **_: sent.append(request))
    path = tmp_path / "small.bin"
    data = os.urandom(5 * MIB)  # exactly one part: no multipart upload
    path.write_bytes(data)
    reporter = Reporter()
    S3Storage(tier="cloud", bucket="pitchey-backups", prefix="", client=s3, part_size=5 * MIB).put(
        path, "media/small.bin", reporter
    )
    assert [r.method for r in sent] == ["PUT"] and "uploadId" not in sent[0].url
    assert sent[0].headers["x-amz-checksum-sha256"].decode() == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert reporter.done == len(data)
    stored = s3.get_object(Bucket="pitchey-backups", Key="media/small.bin")
    assert stored["Body"].read() == data and stored["Metadata"] == {"sha256": hashlib.sha256(data).hexdigest()}


def test_backup_lands_on_every_tier_and_corruption_in_any_copy_is_caught(s3, backup_paths):
    (backup_paths / "media" / "video.bin").write_bytes(os.urandom(7 * MIB))  # > one 5 MiB part
    backup = services.backup_start(kind="media", actor="t", inline=True)
    assert backup.status == Status.SUCCEEDED, backup.error
    locations = {loc.tier: loc for loc in backup.locations.all()}
    assert set(locations) == {"local", "cloud", "archive"}
    assert locations["cloud"].uri.startswith("s3://pitchey-backups/media/")
    assert locations["archive"].uri.startswith("s3://pitchey-archive/media/")
    assert all(loc.verified_at for loc in locations.values())
    assert locations["archive"].expires_at is None  # media is kept indefinitely in the archive
    local_bytes = Path(locations["local"].uri.removeprefix("file://")).read_bytes()
    for tier in ("cloud", "archive"):
        bucket, key = _key(locations[tier].uri)
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == local_bytes
        manifest_key = key.split(".")[0] + ".manifest.json"
        assert f'"tier": "{tier}"' in s3.get_object(Bucket=bucket, Key=manifest_key)["Body"].read().decode()

    bucket, key = _key(locations["archive"].uri)
    flipped = bytearray(local_bytes)
    flipped[len(flipped) // 2] ^= 0x04
    s3.put_object(Bucket=bucket, Key=key, Body=bytes(flipped))
    after = services.backup_verify(backup_id=backup.id)
    assert not after.verification["ok"] and after.verified_at is None
    tiers = {loc.tier: loc for loc in after.locations.all()}
    assert tiers["archive"].verified_at is None and "SHA-256" in tiers["archive"].verification["detail"]
    assert tiers["local"].verified_at and tiers["cloud"].verified_at


def test_archive_prefix_in_the_same_bucket_and_restore_from_cloud(s3, sqlite_target, settings, backup_paths):
    settings.R2_ARCHIVE_BUCKET = ""
    backup = services.backup_start(kind="database", actor="t", inline=True)
    assert backup.status == Status.SUCCEEDED, backup.error
    archive = backup.locations.get(tier="archive")
    assert archive.uri.startswith("s3://pitchey-backups/archive/database/")
    # The local copy is lost: the restore reads the cloud copy.
    Path(backup.locations.get(tier="local").uri.removeprefix("file://")).unlink()
    dest = backup_paths / "restored.sqlite3"
    result = restore.restore_database(backup=backup, database_url=f"sqlite:///{dest}")
    assert result["tier"] == "cloud" and result["tables"] == {"notes": 400}


def test_a_damaged_local_copy_is_passed_over_for_an_intact_one(s3, sqlite_target, backup_paths):
    backup = services.backup_start(kind="database", actor="t", inline=True)
    local = Path(backup.locations.get(tier="local").uri.removeprefix("file://"))
    data = bytearray(local.read_bytes())
    data[len(data) // 2] ^= 0xFF
    local.write_bytes(bytes(data))
    dest = backup_paths / "restored.sqlite3"
    result = restore.restore_database(backup=backup, database_url=f"sqlite:///{dest}")
    assert result["tier"] == "cloud" and result["tables"] == {"notes": 400}


def test_catalog_is_rebuilt_from_the_manifests(s3, sqlite_target):
    backup = services.backup_start(kind="database", actor="t", inline=True)
    uuid, sha = backup.uuid, backup.sha256
    Backup.objects.all().delete()
    result = services.backups_import(actor="t")
    assert result == {"backups": 1, "locations": 3}
    rebuilt = Backup.objects.get(uuid=uuid)
    assert rebuilt.sha256 == sha and rebuilt.status == Status.SUCCEEDED and rebuilt.trigger == "import"
    assert set(BackupLocation.objects.values_list("tier", flat=True)) == {"local", "cloud", "archive"}
    assert services.backups_import(actor="t") == {"backups": 0, "locations": 0}
    verified = services.backup_verify(backup_id=rebuilt.id)
    assert verified.verification["ok"], verified.verification["detail"]


def test_pruning_deletes_cloud_objects(s3, sqlite_target, clock):
    from datetime import timedelta

    old = services.backup_start(kind="database", actor="t", inline=True)
    services.backup_start(kind="database", actor="t", inline=True)
    Backup.objects.filter(id=old.id).update(snapshot_at=clock.now - timedelta(days=45))
    deleted = services.backups_prune(actor="t")["deleted"]
    assert {d["tier"] for d in deleted} == {"local", "cloud"}  # archive keeps database backups 90 days
    bucket, key = _key(old.locations.get(tier="archive").uri)
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket="pitchey-backups").get("Contents", [])]
    assert not any(f"-{old.id}." in k for k in listed)
    assert s3.head_object(Bucket=bucket, Key=key)


def test_unreachable_cloud_fails_the_backup_and_leaves_nothing(settings, sqlite_target, backup_paths):
    settings.R2_BUCKET = "pitchey-backups"
    settings.S3_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings.AWS_ACCESS_KEY_ID, settings.AWS_SECRET_ACCESS_KEY = "k", "s"
    backup = services.backup_start(kind="database", actor="t", inline=True)
    assert backup.status == Status.FAILED and "Could not connect" in backup.error
    assert not BackupLocation.objects.exists()
    assert not [p for p in (backup_paths / "backups").rglob("*") if p.is_file()]

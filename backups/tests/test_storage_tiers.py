"""Storage tiers come from the registry: built once (one S3 client for both buckets), not on every
lookup, and built again from the new settings when they change."""

from __future__ import annotations

import pytest

from backups.engines import engines_for
from backups.storage import StorageError, configured_tiers, for_tier


def test_only_local_without_a_bucket(backup_paths):
    tiers = configured_tiers()
    assert list(tiers) == ["local"]
    assert tiers["local"].uri("media/x.tar") == f"file://{(backup_paths / 'backups' / 'media' / 'x.tar').resolve()}"
    with pytest.raises(StorageError, match="tier cloud is not configured"):
        for_tier("cloud")
    with pytest.raises(StorageError, match="tier tape is not configured"):
        for_tier("tape")


def test_cloud_tiers_are_built_once_and_share_one_client(settings):
    settings.R2_BUCKET, settings.R2_PREFIX, settings.R2_ARCHIVE_BUCKET = "pitchey-backups", "p/", ""
    settings.R2_ARCHIVE_PREFIX = "archive/"
    settings.S3_ENDPOINT_URL, settings.AWS_REGION = "http://127.0.0.1:9", "us-east-1"
    tiers = configured_tiers()
    assert list(tiers) == ["local", "cloud", "archive"]
    cloud, archive = tiers["cloud"], tiers["archive"]
    assert for_tier("cloud") is cloud and configured_tiers()["archive"] is archive
    assert archive.client is cloud.client
    assert (cloud.bucket, cloud.prefix, cloud.exclude_prefix) == ("pitchey-backups", "p/", "archive/")
    assert (archive.bucket, archive.prefix) == ("pitchey-backups", "archive/")
    assert cloud.client.meta.endpoint_url == "http://127.0.0.1:9"

    settings.R2_ARCHIVE_BUCKET, settings.S3_ENDPOINT_URL = "pitchey-archive", "http://127.0.0.1:10"
    fresh = configured_tiers()
    assert fresh["cloud"] is not cloud and fresh["cloud"].client.meta.endpoint_url == "http://127.0.0.1:10"
    assert (fresh["archive"].bucket, fresh["archive"].prefix, fresh["cloud"].exclude_prefix) == (
        "pitchey-archive",
        "",
        "",
    )


def test_engines_by_backup_kind(settings, sqlite_target):
    assert [e.name for e in engines_for("full")] == ["sqlite", "config", "media"]
    assert [e.name for e in engines_for("media")] == ["media"]
    assert engines_for("config")[0] is engines_for("full")[1]

"""The storage tiers: ``local`` (``BACKUP_DIR``) always; ``cloud`` and ``archive`` when ``R2_BUCKET`` is
set. Each is built once, the two buckets sharing one S3 client (unless the archive has credentials
of its own), and again after a settings change. ``BACKUP_OBJECT_LOCK_<TIER>`` locks a tier's copies."""

from __future__ import annotations

from django.conf import settings

from . import s3_client
from .base import REGISTRY, register
from .local import LocalStorage
from .s3 import S3Storage


@register
class LocalTier(LocalStorage):
    tier = "local"

    def __init__(self) -> None:
        super().__init__(settings.BACKUP_DIR)


def _archive_location() -> tuple[str, str]:
    """The archive's bucket and prefix: a bucket of its own, or a prefix in the cloud tier's bucket."""
    if settings.R2_ARCHIVE_BUCKET:
        return settings.R2_ARCHIVE_BUCKET, ""
    return settings.R2_BUCKET, settings.R2_ARCHIVE_PREFIX


@register
class CloudTier(S3Storage):
    tier = "cloud"

    @classmethod
    def configured(cls) -> bool:
        return bool(settings.R2_BUCKET)

    def __init__(self) -> None:
        archive_bucket, archive_prefix = _archive_location()
        super().__init__(
            tier="cloud",
            bucket=settings.R2_BUCKET,
            prefix=settings.R2_PREFIX,
            client=s3_client(),
            part_size=settings.BACKUP_S3_PART_SIZE_MB << 20,
            exclude_prefix=archive_prefix if archive_bucket == settings.R2_BUCKET else "",
            lock_mode=settings.BACKUP_OBJECT_LOCK.get("cloud", ""),
        )


@register
class ArchiveTier(S3Storage):
    tier = "archive"

    @classmethod
    def configured(cls) -> bool:
        return bool(settings.R2_BUCKET)  # in R2_ARCHIVE_BUCKET, or under a prefix of R2_BUCKET

    def __init__(self) -> None:
        bucket, prefix = _archive_location()
        super().__init__(
            tier="archive",
            bucket=bucket,
            prefix=prefix,
            client=_archive_client(),
            part_size=settings.BACKUP_S3_PART_SIZE_MB << 20,
            lock_mode=settings.BACKUP_OBJECT_LOCK.get("archive", ""),
        )


def _archive_client():
    """The archive's own endpoint or credentials when it has them (a key that cannot touch the
    cloud bucket, and the other way round), else the cloud tier's client."""
    if settings.ARCHIVE_S3_ENDPOINT_URL or settings.ARCHIVE_AWS_ACCESS_KEY_ID:
        return s3_client(
            endpoint_url=settings.ARCHIVE_S3_ENDPOINT_URL,
            access_key=settings.ARCHIVE_AWS_ACCESS_KEY_ID,
            secret_key=settings.ARCHIVE_AWS_SECRET_ACCESS_KEY,
        )
    return REGISTRY["cloud"].client

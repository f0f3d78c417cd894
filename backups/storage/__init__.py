"""Storage tiers by name (``tiers.py``): ``local`` always; ``cloud`` and ``archive`` when ``R2_BUCKET`` is set."""

from __future__ import annotations

from django.conf import settings

from .base import REGISTRY, Locked, Storage, StorageError
from .local import LocalStorage
from .s3 import S3Storage

__all__ = ["REGISTRY", "Locked", "Storage", "StorageError", "configured_tiers", "for_tier", "for_uri"]


def s3_client(*, endpoint_url: str = "", access_key: str = "", secret_key: str = ""):
    """A client of the cloud tier's S3 service, or of another one (the archive's own credentials)."""
    import boto3  # imported here: a third of a second that local-only commands need not pay
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint_url or settings.S3_ENDPOINT_URL or None,
        aws_access_key_id=access_key or settings.AWS_ACCESS_KEY_ID or None,
        aws_secret_access_key=secret_key or settings.AWS_SECRET_ACCESS_KEY or None,
        region_name=settings.AWS_REGION or None,
        # Uploads ask for SHA-256 themselves (ChecksumAlgorithm, which botocore honours in any mode), so
        # no default CRC on every other request, which some S3-compatible servers refuse. Reads are
        # checked against the manifest's SHA-256 by verify and restore, which then try the next copy.
        config=Config(
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=10,
            read_timeout=120,
        ),
    )


def configured_tiers() -> dict[str, Storage]:
    return {tier: REGISTRY[tier] for tier, cls in REGISTRY.classes().items() if cls.configured()}


def for_tier(tier: str) -> Storage:
    cls = REGISTRY.classes().get(tier)
    if cls is None or not cls.configured():
        raise StorageError(f"tier {tier} is not configured")
    return REGISTRY[tier]


def for_uri(uri: str) -> Storage:
    if uri.startswith("file://"):
        return LocalStorage(settings.BACKUP_DIR)
    if uri.startswith("s3://"):
        bucket = uri[len("s3://") :].split("/", 1)[0]
        return S3Storage(tier="cloud", bucket=bucket, prefix="", client=s3_client())
    raise StorageError(f"unknown storage URI: {uri}")

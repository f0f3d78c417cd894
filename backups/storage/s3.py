from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from ..pipeline import Reporter
from .base import Storage, StorageError

MIB = 1 << 20
MAX_PARTS = 10_000
CHECKSUM = "SHA256"  # per request (each part, or the one PutObject), computed and sent by botocore
CONCURRENCY = 4  # parts in flight at once


def part_size_for(size: int, preferred: int) -> int:
    """Equal-sized parts (the last may be shorter), at least 5 MiB, at most 10,000 of them."""
    size_needed = math.ceil(size / MAX_PARTS) if size else 0
    return max(5 * MIB, preferred, math.ceil(size_needed / MIB) * MIB)


class S3Storage(Storage):
    """An S3-compatible bucket (Cloudflare R2, AWS S3, MinIO, moto), written through boto3's managed
    transfer: a file larger than one part goes up as a multipart upload of equal-sized parts, each
    sent with its SHA-256 (``ChecksumAlgorithm``) so the server rejects a corrupted part; a failed
    multipart upload is aborted by the transfer manager."""

    def __init__(
        self, *, tier: str, bucket: str, prefix: str, client, part_size: int = 16 * MIB, exclude_prefix: str = ""
    ):
        self.tier, self.bucket, self.prefix, self.client, self.part_size = tier, bucket, prefix, client, part_size
        self.exclude_prefix = exclude_prefix  # the archive's prefix when it shares this bucket

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{key}"

    def _split(self, uri: str) -> tuple[str, str]:
        if not uri.startswith("s3://"):
            raise StorageError(f"not an S3 URI: {uri}")
        bucket, _, key = uri[len("s3://") :].partition("/")
        return bucket, key

    def put(self, path: Path, key: str, reporter: Reporter | None = None) -> str:
        from boto3.s3.transfer import TransferConfig  # here, like boto3 itself: local-only commands skip it

        size = path.stat().st_size
        part = part_size_for(size, self.part_size)
        # One request up to one part's size (inclusive), else parts of exactly ``part`` bytes.
        config = TransferConfig(multipart_threshold=part + 1, multipart_chunksize=part, max_concurrency=CONCURRENCY)
        extra: dict = {"ChecksumAlgorithm": CHECKSUM}
        if size <= part:
            with open(path, "rb") as fh:
                extra["Metadata"] = {"sha256": hashlib.file_digest(fh, "sha256").hexdigest()}
        self.client.upload_file(
            str(path),
            self.bucket,
            self.prefix + key,
            ExtraArgs=extra,
            Config=config,
            Callback=_progress(reporter) if reporter else None,
        )
        return self.uri(key)

    def open(self, uri):
        bucket, key = self._split(uri)
        try:
            return self.client.get_object(Bucket=bucket, Key=key)["Body"]
        except self.client.exceptions.NoSuchKey:
            raise StorageError(f"missing: {uri}") from None

    def delete(self, uri):
        bucket, key = self._split(uri)
        self.client.delete_object(Bucket=bucket, Key=key)

    def manifests(self) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for obj in page.get("Contents", []):
                if self.exclude_prefix and obj["Key"].startswith(self.exclude_prefix):
                    continue
                if obj["Key"].endswith(".manifest.json"):
                    yield f"s3://{self.bucket}/{obj['Key']}"


def _progress(reporter: Reporter) -> Callable[[int], None]:
    """The transfer manager reports bytes sent from its worker threads (negative when a part is
    retried); the reporter is fed one call at a time."""
    lock = threading.Lock()

    def add(n: int) -> None:
        with lock:
            reporter.add(n)

    return add

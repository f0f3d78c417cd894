from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from botocore.exceptions import ClientError

from ..pipeline import Reporter
from .base import Locked, Storage, StorageError

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
        self,
        *,
        tier: str,
        bucket: str,
        prefix: str,
        client,
        part_size: int = 16 * MIB,
        exclude_prefix: str = "",
        lock_mode: str = "",
    ):
        self.tier, self.bucket, self.prefix, self.client, self.part_size = tier, bucket, prefix, client, part_size
        self.exclude_prefix = exclude_prefix  # the archive's prefix when it shares this bucket
        self.lock_mode = lock_mode  # S3 Object Lock: "governance", "compliance" or "" (none)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{key}"

    def _split(self, uri: str) -> tuple[str, str]:
        if not uri.startswith("s3://"):
            raise StorageError(f"not an S3 URI: {uri}")
        bucket, _, key = uri[len("s3://") :].partition("/")
        return bucket, key

    def put(self, path: Path, key: str, reporter: Reporter | None = None, *, retain_until: str | None = None) -> str:
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
        if self.lock_mode:
            self._lock(self.prefix + key, retain_until)
        return self.uri(key)

    def _lock(self, key: str, retain_until: str | None) -> None:
        """Lock the object just stored: until ``retain_until`` in the tier's mode, or with a legal hold
        when it is kept indefinitely (Object Lock needs a date; a hold has none). Set after the upload,
        which works the same for one request and for a multipart upload on every S3 implementation."""
        if retain_until is None:
            self.client.put_object_legal_hold(Bucket=self.bucket, Key=key, LegalHold={"Status": "ON"})
            return
        until = datetime.fromisoformat(retain_until)
        self.client.put_object_retention(
            Bucket=self.bucket, Key=key, Retention={"Mode": self.lock_mode.upper(), "RetainUntilDate": until}
        )

    def lock(self, uri: str) -> dict | None:
        """What S3 says of the object's lock (``locked``: a deletion would be refused now)."""
        bucket, key = self._split(uri)
        try:
            head = self.client.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        mode, until = head.get("ObjectLockMode"), head.get("ObjectLockRetainUntilDate")
        hold = head.get("ObjectLockLegalHoldStatus")
        if hold is None and self.lock_mode:  # not every server names the hold in HEAD
            try:
                hold = self.client.get_object_legal_hold(Bucket=bucket, Key=key).get("LegalHold", {}).get("Status")
            except ClientError:
                hold = None
        if not mode and hold != "ON":
            return None
        return {
            "mode": mode.lower() if mode else None,
            "retain_until": until.astimezone(UTC).isoformat() if until else None,
            "legal_hold": hold == "ON",
            "locked": hold == "ON" or bool(until and until > datetime.now(UTC)),
        }

    def open(self, uri):
        bucket, key = self._split(uri)
        try:
            return self.client.get_object(Bucket=bucket, Key=key)["Body"]
        except self.client.exceptions.NoSuchKey:
            raise StorageError(f"missing: {uri}") from None

    def delete(self, uri):
        """Delete an object; never one under lock (``Locked``, and nothing is sent). In a bucket with
        Object Lock (versioned) every version goes: a plain DELETE would only hide it behind a marker."""
        bucket, key = self._split(uri)
        if not self.lock_mode:
            self.client.delete_object(Bucket=bucket, Key=key)
            return
        lock = self.lock(uri)
        if lock and lock["locked"]:
            raise Locked(f"{uri} is locked ({describe_lock(lock)})")
        listed = self.client.list_object_versions(Bucket=bucket, Prefix=key)
        for version in listed.get("Versions", []) + listed.get("DeleteMarkers", []):
            if version["Key"] == key:
                self.client.delete_object(Bucket=bucket, Key=key, VersionId=version["VersionId"])

    def manifests(self) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for obj in page.get("Contents", []):
                if self.exclude_prefix and obj["Key"].startswith(self.exclude_prefix):
                    continue
                if obj["Key"].endswith(".manifest.json"):
                    yield f"s3://{self.bucket}/{obj['Key']}"


def describe_lock(lock: dict) -> str:
    if lock.get("error"):
        return f"lock unknown, so kept: {lock['error']}"
    if lock.get("legal_hold"):
        return "legal hold"
    return f"{lock.get('mode')} mode until {lock.get('retain_until')}"


def _progress(reporter: Reporter) -> Callable[[int], None]:
    """The transfer manager reports bytes sent from its worker threads (negative when a part is
    retried); the reporter is fed one call at a time."""
    lock = threading.Lock()

    def add(n: int) -> None:
        with lock:
            reporter.add(n)

    return add

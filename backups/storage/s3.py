from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Iterator

from .base import Storage, StorageError

MIB = 1 << 20
MAX_PARTS = 10_000


def part_size_for(size: int, preferred: int) -> int:
    """Equal-sized parts (the last may be shorter), at least 5 MiB, at most 10,000 of them."""
    size_needed = math.ceil(size / MAX_PARTS) if size else 0
    return max(5 * MIB, preferred, math.ceil(size_needed / MIB) * MIB)


def b64sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


class S3Storage(Storage):
    """An S3-compatible bucket (Cloudflare R2, AWS S3, MinIO, moto): multipart upload with
    equal-sized parts, each sent with its SHA-256 so the server rejects a corrupted part."""

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

    def put(self, path, key, reporter=None):
        full_key = self.prefix + key
        size = path.stat().st_size
        part = part_size_for(size, self.part_size)
        whole = hashlib.sha256()
        if size <= part:
            data = path.read_bytes()
            self.client.put_object(
                Bucket=self.bucket,
                Key=full_key,
                Body=data,
                ChecksumSHA256=b64sha256(data),
                Metadata={"sha256": hashlib.sha256(data).hexdigest()},
            )
            if reporter:
                reporter.add(size)
            return self.uri(key)
        with open(path, "rb") as fh:
            upload = self.client.create_multipart_upload(Bucket=self.bucket, Key=full_key, ChecksumAlgorithm="SHA256")
            upload_id, parts = upload["UploadId"], []
            try:
                number = 0
                while data := fh.read(part):
                    number += 1
                    whole.update(data)
                    checksum = b64sha256(data)
                    answer = self.client.upload_part(
                        Bucket=self.bucket,
                        Key=full_key,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=data,
                        ChecksumSHA256=checksum,
                        ChecksumAlgorithm="SHA256",
                    )
                    parts.append({"PartNumber": number, "ETag": answer["ETag"], "ChecksumSHA256": checksum})
                    if reporter:
                        reporter.add(len(data))
                self.client.complete_multipart_upload(
                    Bucket=self.bucket, Key=full_key, UploadId=upload_id, MultipartUpload={"Parts": parts}
                )
            except BaseException:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=full_key, UploadId=upload_id)
                raise
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

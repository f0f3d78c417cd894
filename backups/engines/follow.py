"""Compress a pg_dump custom-format file while pg_dump is still writing it.

pg_dump writes a seekable file as: header and table of contents (TOC), then every table's data,
and at the end it seeks back and rewrites the TOC (same length) with the data offsets that make
``pg_restore -j`` fast. Piping pg_dump into a compressor loses those offsets; compressing the file
after pg_dump has finished costs a second pass. So we follow the file as it grows:

1. Everything from ``HEAD`` bytes on is compressed as soon as it is written (its own frames),
   keeping a cheap checksum of every 1 MiB block.
2. When pg_dump has exited, the first ``HEAD`` bytes (header + TOC, now with offsets) are
   compressed as the first frame, every followed block is re-checked against the final file, and
   the artifact is the head frame followed by the rest (concatenated frames: ``zstd -dc`` and
   ``gzip -dc`` read them as one stream).
3. Should anything beyond the head have changed (a TOC larger than ``HEAD``), the whole file is
   compressed again from scratch: slower, never wrong.
"""

from __future__ import annotations

import hashlib
import os
import time
import zlib
from collections.abc import Callable
from pathlib import Path

from .. import pipeline

HEAD = 32 << 20
BLOCK = 1 << 20


def compress_following(
    raw: Path,
    dest: Path,
    *,
    finished: Callable[[], bool],
    tmp_dir: Path,
    compression: str,
    level: int,
) -> tuple[pipeline.Stored | None, Callable[[], pipeline.Stored]]:
    """Follow ``raw`` until ``finished()``; return a function that completes the artifact once the
    writer has exited successfully (it must only be called then)."""
    rest_path = tmp_dir / f"{dest.name}.rest"
    sums: list[tuple[int, int, int]] = []
    pos = HEAD
    with open(rest_path, "wb") as rest:
        compressor = pipeline.codec(compression).writer(rest, level)
        src = None
        try:
            while True:
                done = finished()  # read before the size: after the writer exits, read to the end
                size = raw.stat().st_size if raw.exists() else 0
                if src is None and size > HEAD:
                    src = open(raw, "rb")
                while src is not None and (pos + BLOCK <= size or (done and pos < size)):
                    src.seek(pos)
                    data = src.read(min(BLOCK, size - pos))
                    compressor.write(data)
                    sums.append((pos, len(data), zlib.adler32(data)))
                    pos += len(data)
                if done:
                    break
                time.sleep(0.02)
        finally:
            if src is not None:
                src.close()
        compressor.close()

    def complete() -> pipeline.Stored:
        size = raw.stat().st_size
        if size <= HEAD or not _unchanged(raw, sums, size):
            rest_path.unlink(missing_ok=True)
            return pipeline.store_file(raw, dest, tmp_dir=tmp_dir, compression=compression, level=level)
        return _assemble(raw, rest_path, dest, size=size, tmp_dir=tmp_dir, compression=compression, level=level)

    return None, complete


def _unchanged(raw: Path, sums: list[tuple[int, int, int]], size: int) -> bool:
    if not sums or sums[-1][0] + sums[-1][1] != size:
        return False
    with open(raw, "rb") as fh:
        fh.seek(HEAD)
        for _pos, length, checksum in sums:
            if zlib.adler32(fh.read(length)) != checksum:
                return False
    return True


def _assemble(raw: Path, rest_path: Path, dest: Path, *, size: int, tmp_dir: Path, compression: str, level: int):
    tmp = tmp_dir / f"{dest.name}.part"
    sha, stored = hashlib.sha256(), 0
    try:
        with open(tmp, "wb") as out:

            class _Out:
                def write(self, data):
                    nonlocal stored
                    sha.update(data)
                    stored += len(data)
                    out.write(data)
                    return len(data)

                def flush(self):
                    pass

            with open(raw, "rb") as src:
                head = pipeline.codec(compression).writer(_Out(), level)
                head.write(src.read(HEAD))
                head.close()
            with open(rest_path, "rb") as rest:
                while chunk := rest.read(pipeline.CHUNK):
                    _Out().write(chunk)
            out.flush()
            os.fsync(out.fileno())
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, dest)
        pipeline.fsync_dir(dest.parent)
    finally:
        tmp.unlink(missing_ok=True)
        rest_path.unlink(missing_ok=True)
    # The uncompressed SHA-256 is not computed (it would take a pass of its own); the frames carry
    # their own content checksums, and the stored SHA-256 covers every stored byte.
    return pipeline.Stored(dest, stored, sha.hexdigest(), size, "")

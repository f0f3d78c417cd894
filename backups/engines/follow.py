"""Compress a pg_dump custom-format file while pg_dump is still writing it.

pg_dump writes a seekable file as: header and table of contents (TOC), then every table's data,
and at the end it seeks back and rewrites the TOC (same length) with the position of every data
block. Compressing the file after pg_dump has finished costs a second pass; so we follow it:

1. Read the header and TOC as soon as they are written (``pgarchive``) and store them as the
   first frame. From then on every byte pg_dump appends is final the moment it is written.
2. Compress what it appends as it arrives, hashing the stored bytes on the way, in frames of
   ``FRAME`` bytes; the frame index (uncompressed offset → stored offset) lets a restore start
   reading at any table's data without decompressing what comes before it.
3. Keep pace with pg_dump: the configured level is the ceiling; while the compressor falls behind
   the dump, the next frames use a faster level, and climb back once it has caught up (like
   ``zstd --adapt``). The manifest records how many bytes went through each level.
4. Give back what is compressed: the bytes behind the follower are punched out of pg_dump's file
   (a sparse file, where the filesystem supports it), so they are never written to disk and the
   scratch space a backup needs stays small whatever the size of the database.
5. When pg_dump has exited: read the rewritten TOC for the data positions (the manifest keeps
   them; the stored TOC is the first one, as in a dump written through a pipe), fsync, rename.
   ``zstd -dc`` / ``gzip -dc`` read the frames as one stream that ``pg_restore`` reads as is.
6. Should the stored TOC have been read while pg_dump rewrote it (a torn copy), the artifact is
   rebuilt with the final TOC in front of the same compressed frames. Should the TOC not be
   readable at all, the whole file is compressed after pg_dump has finished: slower, never wrong.
"""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from .. import pipeline
from . import pgarchive
from .base import BackupFailed

FRAME = 8 << 20  # uncompressed bytes per frame: the granularity of a restore's random access
READ = 1 << 20
HEAD_LIMIT = 64 << 20  # a larger TOC (millions of objects) is compressed afterwards
BEHIND, CAUGHT_UP = 4 * FRAME, FRAME // 2  # bytes not yet compressed that lower / raise the level
POLL_S = 0.02  # between looks at the writer's file


@dataclass
class Followed:
    stored: pipeline.Stored
    toc_size: int = 0
    frames: list[tuple[int, int]] = field(default_factory=list)  # (uncompressed offset, stored offset)
    blocks: list[tuple[int, int, int]] = field(default_factory=list)  # (dump id, start, length)
    levels: dict[int, int] = field(default_factory=dict)  # level → uncompressed bytes
    dump_version: str = ""  # the writer's, from the archive's header (when it was read)

    def describe(self) -> dict:
        out = self.stored.describe()
        if self.frames:
            out |= {"toc_size": self.toc_size, "frames": self.frames, "blocks": self.blocks}
        out["levels"] = {str(k): v for k, v in sorted(self.levels.items())}
        return out


def compress_following(
    raw: Path,
    dest: Path,
    *,
    finished: Callable[[], bool],
    tmp_dir: Path,
    compression: str,
    level: int,
    pause: Callable[[float], object] = time.sleep,
) -> Callable[[], Followed]:
    """Follow ``raw`` until ``finished()``; return a function that completes the artifact once the
    writer has exited successfully (it must only be called then). Between looks it calls
    ``pause(seconds)``: a wait that returns as soon as the writer exits saves a small backup that much."""
    codec = pipeline.codec(compression)
    toc = _wait_for_toc(raw, finished, pause)
    if toc is None:
        return lambda: _from_scratch(raw, dest, tmp_dir=tmp_dir, compression=compression, level=level)
    tmp = tmp_dir / f"{dest.name}.part"
    with open(tmp, "wb") as fh, open(raw, "r+b") as src:  # writable: to punch out what is compressed
        framer = _Framer(raw, src, pipeline.HashingWriter(fh), codec)
        framer.frame(toc.end, level)
        _follow(framer, finished, level, pause)
        fh.flush()
        os.fsync(fh.fileno())
    sealed = _Sealed(tmp, toc, framer.pos, framer.frames, framer.levels, framer.out.size, framer.out.sha.hexdigest())
    return lambda: _complete(raw, dest, sealed, codec=codec, level=level)


@dataclass
class _Framer:
    """Compresses ``raw`` frame by frame into ``out``, keeping the frame index and the bytes per level."""

    raw: Path
    src: BinaryIO
    out: pipeline.HashingWriter
    codec: pipeline.Codec
    pos: int = 0  # uncompressed bytes compressed so far
    frames: list[tuple[int, int]] = field(default_factory=list)
    levels: dict[int, int] = field(default_factory=dict)

    def frame(self, end: int, at_level: int) -> None:
        self.frames.append((self.pos, self.out.size))
        compressor = self.codec.writer(self.out, at_level)
        self.src.seek(self.pos)
        while self.pos < end:
            data = self.src.read(min(READ, end - self.pos))
            if not data:
                raise OSError(f"{self.raw.name} shrank while it was being compressed")
            compressor.write(data)
            self.pos += len(data)
        compressor.close()
        self.levels[at_level] = self.levels.get(at_level, 0) + end - self.frames[-1][0]


def _follow(framer: _Framer, finished: Callable[[], bool], level: int, pause: Callable[[float], object]) -> None:
    """Steps 2 to 4: compress what the writer appends until it has finished, at a level that keeps
    pace with it, punching out of its file what is compressed."""
    current = level
    while True:
        done = finished()  # read before the size: after the writer exits, read to the end
        size = framer.raw.stat().st_size
        while framer.pos + FRAME <= size or (done and framer.pos < size):
            behind = size - framer.pos
            if not done and behind > BEHIND:
                current = max(1, current - 1)
            elif behind < CAUGHT_UP:
                current = min(level, current + 1)
            start = framer.pos
            framer.frame(min(framer.pos + FRAME, size), current)
            _punch(framer.src.fileno(), start, framer.pos - start)
        if done:
            break
        pause(POLL_S)


@dataclass(frozen=True)
class _Sealed:
    """A followed file, compressed to its end into ``tmp``, waiting for the writer's exit status."""

    tmp: Path
    toc: pgarchive.Toc  # as stored in the first frame
    pos: int  # uncompressed bytes compressed
    frames: list[tuple[int, int]]
    levels: dict[int, int]
    stored_size: int
    sha256: str


def _complete(raw: Path, dest: Path, sealed: _Sealed, *, codec: pipeline.Codec, level: int) -> Followed:
    """Steps 5 and 6, once the writer has exited successfully."""
    toc, frames, stored_size, sha256 = sealed.toc, sealed.frames, sealed.stored_size, sealed.sha256
    if sealed.pos != raw.stat().st_size:
        raise BackupFailed("pg_dump's file changed after it exited")
    final = pgarchive.read_toc(raw, limit=HEAD_LIMIT)
    if final.end != toc.end or [e.dump_id for e in final.entries] != [e.dump_id for e in toc.entries]:
        raise BackupFailed("pg_dump rewrote its table of contents with another layout")
    torn = zip(toc.entries, final.entries, strict=True)
    if any(before.data_pos not in (None, after.data_pos) for before, after in torn):
        frames, stored_size, sha256 = _rehead(raw, sealed.tmp, frames, codec=codec, level=level, head_len=toc.end)
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(sealed.tmp, dest)
    pipeline.fsync_dir(dest.parent)
    blocks = [(entry.dump_id, start, length) for entry, start, length in final.data_blocks(sealed.pos)]
    stored = pipeline.Stored(dest, stored_size, sha256, sealed.pos, "")
    return Followed(
        stored=stored,
        toc_size=toc.end,
        frames=frames,
        blocks=blocks,
        levels=sealed.levels,
        dump_version=final.dump_version,
    )


def _wait_for_toc(raw: Path, finished: Callable[[], bool], pause: Callable[[float], object]) -> pgarchive.Toc | None:
    while True:
        done = finished()
        try:
            toc = pgarchive.read_toc(raw, limit=HEAD_LIMIT)
            return None if toc.compressed else toc
        except FileNotFoundError:
            pass
        except pgarchive.NotAnArchive:
            return None
        except pgarchive.NeedMore:
            if raw.stat().st_size >= HEAD_LIMIT:
                return None
        if done:
            return None
        pause(POLL_S)


def _rehead(raw: Path, tmp: Path, frames, *, codec, level: int, head_len: int):
    """The stored TOC was read while pg_dump rewrote it: put the final one in front of the same
    compressed frames (they hold the data, which never changed). Returns the new frame index,
    stored size and SHA-256."""
    rebuilt = tmp.with_name(tmp.name + ".rehead")
    try:
        with open(raw, "rb") as src, open(tmp, "rb") as old, open(rebuilt, "wb") as fh:
            out = pipeline.HashingWriter(fh)
            compressor = codec.writer(out, level)
            compressor.write(src.read(head_len))
            compressor.close()
            rest_at = frames[1][1] if len(frames) > 1 else os.fstat(old.fileno()).st_size
            shift = out.size - rest_at
            old.seek(rest_at)
            while chunk := old.read(pipeline.CHUNK):
                out.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(rebuilt, tmp)
    finally:
        rebuilt.unlink(missing_ok=True)
    return [frames[0]] + [(at, stored + shift) for at, stored in frames[1:]], out.size, out.sha.hexdigest()


# The C library as already loaded into this process (``find_library`` would run ``ldconfig -p``: a
# process started at every import of this module, before each backup and restore).
_libc = ctypes.CDLL(None, use_errno=True)
_PUNCH_HOLE = 0x01 | 0x02  # FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE


def _punch(fd: int, start: int, length: int) -> None:
    """Free ``length`` bytes at ``start`` of the file (it keeps its size, reading zeros there); a
    no-op where the filesystem cannot (the bytes then stay until the file is removed)."""
    if length > 0 and hasattr(_libc, "fallocate"):
        _libc.fallocate(fd, _PUNCH_HOLE, ctypes.c_int64(start), ctypes.c_int64(length))


def _from_scratch(raw: Path, dest: Path, *, tmp_dir: Path, compression: str, level: int) -> Followed:
    stored = pipeline.store_file(raw, dest, tmp_dir=tmp_dir, compression=compression, level=level)
    return Followed(stored=stored, levels={level: raw.stat().st_size})

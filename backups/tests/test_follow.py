"""The follower that compresses a pg_dump file while pg_dump writes it, driven by a writer the
test controls (no timing involved): what pg_dump writes first, then its data in steps, then the
rewrite of its table of contents."""

from __future__ import annotations

import io
import os

import pytest

from backups import pipeline
from backups.engines import follow
from backups.engines.base import BackupFailed

from . import archives


class Writer:
    """Plays pg_dump: the header and TOC, the data in ``steps`` appends, then the TOC rewrite."""

    def __init__(self, path, first: bytes, final: bytes, *, toc_end: int, steps: int = 4, rewrite: bytes = None):
        self.path, self.first, self.final, self.toc_end = path, first, final, toc_end
        self.rewrite = final[:toc_end] if rewrite is None else rewrite
        body = len(first) - toc_end
        self.cuts = [toc_end + body * k // steps for k in range(1, steps + 1)]
        path.write_bytes(first[:toc_end])
        self.calls = 0

    def finished(self) -> bool:
        self.calls += 1
        if self.cuts:
            upto = self.cuts.pop(0)
            with open(self.path, "r+b") as fh:  # append the next part, as pg_dump does
                fh.seek(0, os.SEEK_END)
                fh.write(self.first[fh.tell() : upto])
            return False
        with open(self.path, "r+b") as fh:  # seek back and rewrite the TOC; then exit
            fh.write(self.rewrite)
        return True


def decompress(path, compression: str, at: int = 0) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(at)
        return pipeline.codec(compression).reader(fh).read()


@pytest.fixture
def small_frames(monkeypatch):
    monkeypatch.setattr(follow, "FRAME", 16384)
    monkeypatch.setattr(follow, "READ", 4096)
    monkeypatch.setattr(follow, "BEHIND", 32768)
    monkeypatch.setattr(follow, "CAUGHT_UP", 8192)


@pytest.mark.parametrize("compression", ["zstd", "gzip"])
def test_followed_artifact_frames_and_blocks(tmp_path, small_frames, compression):
    items = archives.sample(rows=3000)
    first, final, positions = archives.archive(items)
    end = len(archives.header()) + len(archives.toc(items, {}))
    raw = tmp_path / "database.pgdump"
    writer = Writer(raw, first, final, toc_end=end)
    level = 3 if compression == "zstd" else 6
    complete = follow.compress_following(
        raw, tmp_path / "out", finished=writer.finished, tmp_dir=tmp_path, compression=compression, level=level
    )
    result = complete()
    stored = result.stored
    content = decompress(stored.path, compression)
    # What is stored is pg_dump's first TOC followed by its data: exactly what pg_dump writes to a pipe.
    assert content == first and content[end:] == final[end:]
    assert stored.size == stored.path.stat().st_size and stored.uncompressed_size == len(final)
    with open(stored.path, "rb") as fh:
        assert pipeline.sha256_stream(fh)[1] == stored.sha256
    assert result.toc_size == end and result.frames[0] == (0, 0)
    assert [(d, s) for d, s, _ in result.blocks] == sorted(positions.items(), key=lambda kv: kv[1])
    assert sum(n for _, _, n in result.blocks) == len(final) - end
    assert len(result.frames) > 5
    for raw_at, stored_at in result.frames[1:]:  # every frame can be read on its own, from its offset
        assert decompress(stored.path, compression, stored_at) == final[raw_at:]
    assert sum(result.levels.values()) == len(final)
    # Compressed bytes were given back: the followed file is sparse behind the follower.
    assert raw.stat().st_blocks * 512 < len(final) // 2


def test_a_fast_writer_lowers_the_level_until_the_follower_catches_up(tmp_path, small_frames):
    items = archives.sample(rows=6000)
    first, final, _ = archives.archive(items)
    end = len(archives.header()) + len(archives.toc(items, {}))
    raw = tmp_path / "database.pgdump"
    writer = Writer(raw, first, final, toc_end=end, steps=2)  # half the data at once: far behind
    complete = follow.compress_following(
        raw, tmp_path / "out.zst", finished=writer.finished, tmp_dir=tmp_path, compression="zstd", level=3
    )
    result = complete()
    assert set(result.levels) == {1, 2, 3} and result.describe()["levels"]["1"] > 0
    assert decompress(result.stored.path, "zstd") == first


def test_a_toc_read_during_its_rewrite_is_replaced_by_the_final_one(tmp_path, small_frames):
    """A torn read: the follower saw positions that are not the final ones (pg_dump was rewriting)."""
    items = archives.sample(rows=300)
    first, final, positions = archives.archive(items)
    end = len(archives.header()) + len(archives.toc(items, {}))
    bogus = archives.header() + archives.toc(items, {d: p + 1 for d, p in positions.items()})
    raw = tmp_path / "database.pgdump"
    writer = Writer(raw, bogus + first[end:], final, toc_end=end)
    complete = follow.compress_following(
        raw, tmp_path / "out.zst", finished=writer.finished, tmp_dir=tmp_path, compression="zstd", level=3
    )
    result = complete()
    assert decompress(result.stored.path, "zstd") == final  # the final TOC, with its positions
    for raw_at, stored_at in result.frames[1:]:
        assert decompress(result.stored.path, "zstd", stored_at) == final[raw_at:]
    with open(result.stored.path, "rb") as fh:
        assert pipeline.sha256_stream(fh) == (result.stored.size, result.stored.sha256)


def test_a_toc_rewritten_with_another_layout_fails_the_backup(tmp_path, small_frames):
    items = archives.sample(rows=50)
    first, final, _ = archives.archive(items)
    end = len(archives.header()) + len(archives.toc(items, {}))
    other = archives.header() + archives.toc(items[:-1], {})  # one entry fewer: not the same archive
    raw = tmp_path / "database.pgdump"
    writer = Writer(raw, first, final, toc_end=end, rewrite=other + bytes(end - len(other)))
    complete = follow.compress_following(
        raw, tmp_path / "out.zst", finished=writer.finished, tmp_dir=tmp_path, compression="zstd", level=3
    )
    with pytest.raises(BackupFailed, match="another layout"):
        complete()


def test_not_an_archive_is_compressed_after_the_writer_exits(tmp_path):
    raw = tmp_path / "database.pgdump"
    raw.write_bytes(b"plain text, not a custom-format archive\n" * 100)
    complete = follow.compress_following(
        raw, tmp_path / "out.zst", finished=lambda: True, tmp_dir=tmp_path, compression="zstd", level=3
    )
    result = complete()
    assert not result.frames and decompress(result.stored.path, "zstd") == raw.read_bytes()
    assert result.stored.uncompressed_sha256  # the from-scratch path hashes what it reads


def test_hashing_writer_counts_what_it_stores():
    out = pipeline.HashingWriter(io.BytesIO())
    out.write(b"abc")
    assert out.size == 3 and out.sha.hexdigest().startswith("ba7816bf")

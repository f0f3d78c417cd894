"""The follower that compresses a pg_dump file while pg_dump writes it: both of its paths, driven
by a writer the test controls (no timing involved)."""

import os

import zstandard

from backups.engines import follow


def test_follower_recompresses_when_bytes_past_the_head_change(tmp_path, monkeypatch):
    """A writer that rewrites bytes the follower already compressed (a TOC larger than the head):
    the follower notices and compresses the final file from scratch."""
    monkeypatch.setattr(follow, "HEAD", 512)
    monkeypatch.setattr(follow, "BLOCK", 1024)
    raw = tmp_path / "dump"
    raw.write_bytes(os.urandom(8 * 1024 + 100))
    calls = []

    def finished() -> bool:
        calls.append(1)
        if len(calls) == 1:
            return False  # the follower reads every whole block past the head
        with open(raw, "r+b") as fh:  # then the writer seeks back and rewrites its TOC
            fh.seek(600)
            fh.write(b"offsets!")
        return True

    _, complete = follow.compress_following(
        raw, tmp_path / "out.zst", finished=finished, tmp_dir=tmp_path, compression="zstd", level=3
    )
    stored = complete()
    assert stored.uncompressed_sha256  # the from-scratch path, which hashes what it reads
    with open(stored.path, "rb") as fh:
        assert zstandard.ZstdDecompressor().stream_reader(fh).read() == raw.read_bytes()


def test_follower_keeps_followed_frames_when_only_the_head_changes(tmp_path, monkeypatch):
    monkeypatch.setattr(follow, "HEAD", 512)
    monkeypatch.setattr(follow, "BLOCK", 1024)
    raw = tmp_path / "dump"
    raw.write_bytes(os.urandom(8 * 1024 + 100))
    calls = []

    def finished() -> bool:
        calls.append(1)
        if len(calls) == 1:
            return False
        with open(raw, "r+b") as fh:  # a TOC rewrite that stays inside the head
            fh.seek(100)
            fh.write(b"offsets!")
        return True

    _, complete = follow.compress_following(
        raw, tmp_path / "out.zst", finished=finished, tmp_dir=tmp_path, compression="zstd", level=3
    )
    stored = complete()
    assert stored.uncompressed_sha256 == ""  # head frame + followed frames, no second pass
    with open(stored.path, "rb") as fh:
        assert zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True).read() == raw.read_bytes()

"""The follower that compresses a pg_dump file while pg_dump writes it: both of its paths, driven
by a writer the test controls (no timing involved)."""

import os

import pytest
import zstandard

from backups.engines import follow


def follow_a_writer(tmp_path, monkeypatch, *, rewrite_at: int):
    """A 8 KiB dump followed with a 512-byte head: the follower first reads every whole block past
    the head; then the writer seeks back, rewrites 8 bytes at ``rewrite_at`` (its TOC) and exits."""
    monkeypatch.setattr(follow, "HEAD", 512)
    monkeypatch.setattr(follow, "BLOCK", 1024)
    raw = tmp_path / "dump"
    raw.write_bytes(os.urandom(8 * 1024 + 100))
    calls = []

    def finished() -> bool:
        calls.append(1)
        if len(calls) == 1:
            return False
        with open(raw, "r+b") as fh:
            fh.seek(rewrite_at)
            fh.write(b"offsets!")
        return True

    _, complete = follow.compress_following(
        raw, tmp_path / "out.zst", finished=finished, tmp_dir=tmp_path, compression="zstd", level=3
    )
    stored = complete()
    with open(stored.path, "rb") as fh:
        content = zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True).read()
    return stored, content, raw.read_bytes()


@pytest.mark.parametrize(
    "rewrite_at, from_scratch",
    [
        (600, True),  # past the head, in bytes already compressed: noticed, compressed again from scratch
        (100, False),  # inside the head: head frame + the followed frames, no second pass
    ],
)
def test_follower_output_is_the_final_file(tmp_path, monkeypatch, rewrite_at, from_scratch):
    stored, content, final = follow_a_writer(tmp_path, monkeypatch, rewrite_at=rewrite_at)
    assert bool(stored.uncompressed_sha256) is from_scratch  # only the from-scratch path hashes what it reads
    assert content == final

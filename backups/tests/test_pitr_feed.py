"""The two halves of a point-in-time restore's fast path, on real files and the real binaries:
the base backup laid out in one pass through ``zstd`` (``gzip``) and ``tar`` while its stored bytes
are hashed, and the WAL fed to PostgreSQL's ``restore_command`` (the shell script it runs once per
segment) by a fetcher that checks every segment against its manifest before it hands it over."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import threading
from pathlib import Path

import pytest

from backups import pipeline
from backups.pitr import untar
from backups.pitr.feed import SCRIPT, SegmentSource, WalFeed
from backups.restore import DamagedCopy
from pitchey_incidents.testing import wait_for

# --- the base backup ---------------------------------------------------------------------------------


def stored_tar(tmp_path: Path, compression: str = "zstd") -> tuple[dict, dict[str, bytes]]:
    """A tar like pg_basebackup's (a folder 0700, files 0600) stored through the pipeline; its part."""
    files = {"PG_VERSION": b"15\n", "global/pg_control": os.urandom(8192), "base/1/1259": os.urandom(300_000)}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for folder in ("global", "base", "base/1"):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o700
            tar.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o600
            tar.addfile(info, io.BytesIO(data))
    src = tmp_path / "base.tar"
    src.write_bytes(buf.getvalue())
    suffix = pipeline.codec(compression).suffix
    stored = pipeline.store_file(
        src, tmp_path / f"base.tar{suffix}", tmp_dir=tmp_path / "tmp", compression=compression, level=3
    )
    return stored.describe() | {"compression": compression}, files


def opener_in(folder: Path):
    return lambda name: open(folder / name, "rb")


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.fixture(params=["binaries", "python"])
def way(request, monkeypatch, tmp_path):
    """Through the stock binaries, and without them on PATH (the same pass in Python)."""
    if request.param == "python":
        empty = tmp_path / "no-binaries"
        empty.mkdir()
        monkeypatch.setenv("PATH", str(empty))
    return request.param


@pytest.mark.parametrize("compression", ["zstd", "gzip"])
def test_a_base_backup_part_is_laid_out_with_its_modes_in_one_checked_pass(tmp_path, way, compression):
    part, files = stored_tar(tmp_path, compression)
    assert untar.binaries_for(compression) == (way == "binaries")
    dest = tmp_path / "data"
    untar.extract(opener_in(tmp_path), part, dest)
    for name, data in files.items():
        assert (dest / name).read_bytes() == data
        assert (dest / name).stat().st_mode & 0o777 == 0o600
    assert (dest / "base/1").stat().st_mode & 0o777 == 0o700


def test_a_damaged_base_backup_part_is_refused(tmp_path, way):
    part, _ = stored_tar(tmp_path)
    flip_a_byte(tmp_path / part["file"])
    with pytest.raises(DamagedCopy, match=part["file"]):
        untar.extract(opener_in(tmp_path), part, tmp_path / "data")


def test_a_whole_archive_that_is_not_the_one_in_the_manifest_is_refused(tmp_path, way):
    part, _ = stored_tar(tmp_path)
    (tmp_path / "other").mkdir()
    other, _ = stored_tar(tmp_path / "other")
    (tmp_path / "other" / other["file"]).replace(tmp_path / part["file"])  # decompresses, but another file
    with pytest.raises(DamagedCopy, match="SHA-256 differs from the manifest"):
        untar.extract(opener_in(tmp_path), part, tmp_path / "data")


# --- the WAL -----------------------------------------------------------------------------------------

NAMES = [f"000000010000000000000{n:03X}" for n in (0x10, 0x11, 0x12, 0x13)]


def stored_segments(folder: Path, names=NAMES) -> dict[str, tuple[dict, bytes]]:
    """Each name as a (small) segment stored through the pipeline: its part and its bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    found = {}
    for name in names:
        data = name.encode() + os.urandom(64 << 10)
        (folder / name).write_bytes(data)
        stored = pipeline.store_file(
            folder / name, folder / f"{name}.zst", tmp_dir=folder / "tmp", compression="zstd", level=3
        )
        (folder / name).unlink()
        found[name] = (stored.describe() | {"compression": "zstd"}, data)
    return found


def ask(feed: WalFeed, name: str, dest: Path) -> subprocess.CompletedProcess:
    """What PostgreSQL does: run the restore_command for ``name`` into ``dest``."""
    argv = ["/bin/sh", str(feed.spool / SCRIPT), name, str(dest)]
    return subprocess.run(argv, capture_output=True, timeout=30, stdin=subprocess.DEVNULL)


@pytest.fixture
def feeds():
    started = []
    yield started
    for feed in started:
        feed.finish()


def test_the_segments_are_handed_over_in_order_each_from_its_first_intact_copy(tmp_path, feeds):
    local, cloud = stored_segments(tmp_path / "local"), stored_segments(tmp_path / "cloud")
    # Each segment on two tiers (different bytes, so it shows which was read); the second one's
    # local copy damaged: the cloud's is read.
    flip_a_byte(tmp_path / "local" / local[NAMES[1]][0]["file"])
    sources = [
        SegmentSource(n, [(opener_in(tmp_path / "local"), local[n][0]), (opener_in(tmp_path / "cloud"), cloud[n][0])])
        for n in NAMES
    ]
    feed = WalFeed(sources, tmp_path / "spool", ahead=2)
    feeds.append(feed.start())
    expected = {n: local[n][1] for n in NAMES} | {NAMES[1]: cloud[NAMES[1]][1]}
    seen = []
    for n, name in enumerate(NAMES):
        if n < len(NAMES) - 1:  # ahead=2: two segments wait in the spool, never more
            wait_for(lambda: seen.append(len(ready(feed))) or seen[-1] == 2, timeout=30)
            assert feed.handed() == n and max(seen) == 2
        assert ask(feed, name, tmp_path / "RECOVERYXLOG").returncode == 0
        assert (tmp_path / "RECOVERYXLOG").read_bytes() == expected[name]
        if n == 0:  # asked again while the feed still waits for room: not available, not waited for
            assert ask(feed, name, tmp_path / "again").returncode == 1 and not (tmp_path / "again").exists()
    assert ask(feed, "000000010000000000000014", tmp_path / "next").returncode == 1  # after the last: none
    assert ask(feed, "00000002.history", tmp_path / "history").returncode == 1
    plan = feed.finish()
    assert plan.segments == NAMES and plan.missing is None and plan.damaged == []
    assert not (tmp_path / "next").exists()


def ready(feed: WalFeed) -> list[str]:
    return sorted(p.name for p in feed.spool.iterdir() if len(p.name) == 24)


def test_a_segment_damaged_in_every_copy_is_never_handed_over_and_ends_the_feed(tmp_path, feeds):
    local = stored_segments(tmp_path / "local")
    flip_a_byte(tmp_path / "local" / local[NAMES[2]][0]["file"])
    sources = [SegmentSource(n, [(opener_in(tmp_path / "local"), local[n][0])]) for n in NAMES]
    feed = WalFeed(sources, tmp_path / "spool")
    feeds.append(feed.start())
    for name in NAMES[:2]:
        assert ask(feed, name, tmp_path / "RECOVERYXLOG").returncode == 0
    refused = ask(feed, NAMES[2], tmp_path / "damaged")
    assert refused.returncode == 1 and not (tmp_path / "damaged").exists()
    assert ask(feed, NAMES[3], tmp_path / "after").returncode == 1  # never past the gap
    plan = feed.finish()
    assert plan.segments == NAMES[:2] and plan.missing == NAMES[2] and plan.damaged == [NAMES[2]]
    assert not list(feed.spool.glob(f"{NAMES[2]}*"))  # not even a partial file where the script looks


def test_the_restore_command_waits_for_a_segment_still_being_fetched(tmp_path, feeds):
    local = stored_segments(tmp_path / "local", NAMES[:1])
    fetching, release = threading.Event(), threading.Event()

    def slow(name):  # a tier that answers late
        fetching.set()
        release.wait(30)
        return open(tmp_path / "local" / name, "rb")

    feed = WalFeed([SegmentSource(NAMES[0], [(slow, local[NAMES[0]][0])])], tmp_path / "spool")
    feeds.append(feed.start())
    waiting = subprocess.Popen(["/bin/sh", str(feed.spool / SCRIPT), NAMES[0], str(tmp_path / "RECOVERYXLOG")])
    assert fetching.wait(30)
    assert waiting.poll() is None  # not "not available": that would end recovery early
    release.set()
    assert waiting.wait(30) == 0 and (tmp_path / "RECOVERYXLOG").read_bytes() == local[NAMES[0]][1]


def test_a_segment_only_in_the_spool_is_padded_to_a_whole_segment(tmp_path, feeds):
    spooled = tmp_path / "spool-of-receiver" / f"{NAMES[0]}.partial"
    spooled.parent.mkdir()
    spooled.write_bytes(b"wal" * 1000)
    feed = WalFeed([SegmentSource(NAMES[0], [], spooled)], tmp_path / "spool")
    feeds.append(feed.start())
    assert ask(feed, NAMES[0], tmp_path / "RECOVERYXLOG").returncode == 0
    data = (tmp_path / "RECOVERYXLOG").read_bytes()
    assert len(data) == 16 << 20 and data.startswith(b"wal" * 1000) and not data[3000:].strip(b"\0")
    assert feed.finish().segments == [NAMES[0]]

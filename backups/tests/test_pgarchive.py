"""Reading pg_dump's custom-format header and table of contents: synthetic archives for every
archive version we read, every truncation point, and a real pg_dump archive against pg_restore -l."""

from __future__ import annotations

import subprocess

import pytest

from backups.engines import pgarchive

from . import archives


@pytest.mark.parametrize("version", [(1, 12, 0), (1, 14, 0), (1, 15, 0), (1, 16, 0)])
def test_table_of_contents_and_data_positions(version):
    items = archives.sample()
    first, final, positions = archives.archive(items, version)
    toc = pgarchive.parse_toc(final)
    assert toc.version == version and not toc.compressed
    assert toc.end == len(archives.header(version)) + len(archives.toc(items, {}, version))
    assert [(e.dump_id, e.desc, e.tag, e.section, e.deps) for e in toc.entries] == [
        (i.dump_id, i.desc, i.tag, i.section, i.deps) for i in items
    ]
    assert {e.dump_id: e.data_pos for e in toc.entries if e.data_pos is not None} == positions
    blocks = toc.data_blocks(len(final))
    assert [(e.dump_id, start) for e, start, _ in blocks] == sorted(positions.items(), key=lambda kv: kv[1])
    assert sum(n for _, _, n in blocks) == len(final) - toc.end  # the blocks tile everything after the TOC
    for entry, start, length in blocks:
        assert final[start : start + length] == archives.block(next(i for i in items if i.dump_id == entry.dump_id))
    # As first written, the same layout without positions.
    early = pgarchive.parse_toc(first)
    assert early.end == toc.end and all(e.data_pos is None for e in early.entries)


def test_every_truncation_asks_for_more():
    _, final, _ = archives.archive(archives.sample(rows=3))
    end = pgarchive.parse_toc(final).end
    for n in range(end):
        with pytest.raises(pgarchive.NeedMore):
            pgarchive.parse_toc(final[:n])
    assert pgarchive.parse_toc(final[:end]).end == end


@pytest.mark.parametrize(
    "data",
    [
        b"not a dump at all, just text",
        b"PGDMP" + bytes([1, 17, 0]) + b"\x04\x08\x01" + bytes(64),  # a version from the future
        b"PGDMP" + bytes([1, 14, 0]) + b"\x04\x08\x03" + bytes(64),  # tar format, not custom
    ],
)
def test_other_files_are_not_archives(data):
    with pytest.raises(pgarchive.NotAnArchive):
        pgarchive.parse_toc(data)


def test_read_toc_reads_only_what_it_needs(tmp_path):
    _, final, _ = archives.archive(archives.sample(rows=2000))
    path = tmp_path / "dump"
    path.write_bytes(final)
    assert pgarchive.read_toc(path, first=16).end == pgarchive.parse_toc(final).end
    path.write_bytes(final[:100])
    with pytest.raises(pgarchive.NeedMore):
        pgarchive.read_toc(path, first=16)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_real_pg_dump_archive_reads_as_pg_restore_lists_it(pg_target, tmp_path):
    dump = tmp_path / "real.dump"
    subprocess.run(["pg_dump", "-Fc", "-Z0", "-f", str(dump), "-d", pg_target], check=True)
    toc = pgarchive.read_toc(dump)
    listed = subprocess.run(["pg_restore", "-l", str(dump)], capture_output=True, text=True, check=True).stdout
    ids = [int(line.split(";")[0]) for line in listed.splitlines() if line and not line.startswith(";")]
    ours = {e.dump_id for e in toc.entries}
    assert set(ids) <= ours  # pg_restore -l leaves out what it would not restore (ENCODING, DATABASE …)
    data = {e.qualified for e, _, _ in toc.data_blocks(dump.stat().st_size)}
    assert {"public.accounts", "public.events", "public.empty_table"} <= data
    with open(dump, "rb") as fh:  # every position points at a data block of that entry
        for entry, start, _ in toc.data_blocks(dump.stat().st_size):
            fh.seek(start)
            head = fh.read(1 + 1 + 4)
            assert head[0] in (1, 3) and int.from_bytes(head[2:], "little") == entry.dump_id

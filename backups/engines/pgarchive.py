"""The header and table of contents of PostgreSQL's custom-format archive (``pg_dump -Fc``).

pg_dump writes: a header, the table of contents (one entry per object, each with the position of
its data block once known), then the data blocks; at the end it seeks back and rewrites the table
of contents, the same length, with the data positions filled in. Knowing where the table of
contents ends lets the backup compress everything after it while pg_dump is still writing, and the
data positions let a restore start one loader per table at once, each reading only its own block.

Integers are written as a sign byte followed by ``int_size`` bytes, least significant first;
strings as an integer length (-1 for NULL) and the bytes; positions as a flag byte and
``off_size`` bytes. The fields per version follow pg_backup_archiver.c (ReadHead, ReadToc).
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAGIC = b"PGDMP"
FORMAT_CUSTOM = 1
OFFSET_POS_SET = 2
SECTION_NONE, SECTION_PRE_DATA, SECTION_DATA, SECTION_POST_DATA = 1, 2, 3, 4
OLDEST, NEWEST = (1, 12), (1, 16)  # PostgreSQL 9.0 … 17+


class NeedMore(Exception):
    """The bytes end before the table of contents does."""


class NotAnArchive(ValueError):
    """Not a custom-format archive this module can read (or a version it does not know)."""


@dataclass
class Entry:
    dump_id: int
    tag: str
    desc: str
    section: int
    namespace: str
    data_pos: int | None  # where its data block starts, when it has one and pg_dump recorded it
    deps: tuple[int, ...] = ()

    @property
    def qualified(self) -> str:
        return f"{self.namespace}.{self.tag}"


@dataclass
class Toc:
    version: tuple[int, int, int]
    compressed: bool
    end: int  # the first byte after the table of contents: the data blocks start here
    entries: list[Entry] = field(default_factory=list)
    dump_version: str = ""  # of the pg_dump that wrote it, as its --version prints it after "(PostgreSQL) "

    def data_blocks(self, total_size: int) -> list[tuple[Entry, int, int]]:
        """``(entry, start, length)`` of every data block, in file order; the last one runs to the end."""
        placed = sorted((e for e in self.entries if e.data_pos is not None), key=lambda e: e.data_pos)
        ends = [e.data_pos for e in placed[1:]] + [total_size] if placed else []  # an empty database has none
        return [(e, e.data_pos, end - e.data_pos) for e, end in zip(placed, ends, strict=True)]


class _Reader:
    def __init__(self, buf: bytes):
        self.buf, self.pos = buf, 0
        self.int_size = self.off_size = 4

    def raw(self, n: int) -> bytes:
        if self.pos + n > len(self.buf):
            raise NeedMore
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def byte(self) -> int:
        return self.raw(1)[0]

    def int(self) -> int:
        sign = self.byte()
        value = int.from_bytes(self.raw(self.int_size), "little")
        return -value if sign else value

    def str(self) -> str | None:
        n = self.int()
        return None if n < 0 else self.raw(n).decode("utf-8", "replace")

    def offset(self) -> tuple[int, int]:
        flag = self.byte()
        return flag, int.from_bytes(self.raw(self.off_size), "little")


def parse_toc(buf: bytes) -> Toc:
    """Parse the header and table of contents at the start of ``buf``.

    Raises ``NeedMore`` when ``buf`` stops inside them, ``NotAnArchive`` when it is something else."""
    r = _Reader(buf)
    if not buf.startswith(MAGIC[: len(buf)]):
        raise NotAnArchive("not a pg_dump custom-format archive")
    version, compressed, dump_version = _parse_header(r)
    count = r.int()
    if count < 0:
        raise NotAnArchive("archive table of contents is damaged")
    entries = [_parse_entry(r, version) for _ in range(count)]
    return Toc(version=version, compressed=compressed, end=r.pos, entries=entries, dump_version=dump_version)


def _parse_header(r: _Reader) -> tuple[tuple[int, int, int], bool, str]:
    """The archive's version, whether pg_dump compressed its data and pg_dump's version; sets the
    reader's sizes."""
    r.raw(len(MAGIC))
    vmaj, vmin, vrev = r.byte(), r.byte(), r.byte()
    if not OLDEST <= (vmaj, vmin) <= NEWEST:
        raise NotAnArchive(f"archive version {vmaj}.{vmin} is not supported")
    r.int_size, r.off_size = r.byte(), r.byte()
    if not (1 <= r.int_size <= 8 and 1 <= r.off_size <= 8):
        raise NotAnArchive("archive header is damaged")
    if r.byte() != FORMAT_CUSTOM:
        raise NotAnArchive("not a custom-format archive")
    compressed = bool(r.byte()) if (vmaj, vmin) >= (1, 15) else bool(r.int())
    for _ in range(7):  # creation time: sec, min, hour, mday, mon, year, isdst
        r.int()
    r.str()  # database name
    r.str()  # server version
    dump_version = r.str() or ""
    return (vmaj, vmin, vrev), compressed, dump_version


def _parse_entry(r: _Reader, version: tuple[int, int, int]) -> Entry:
    """One entry of the table of contents."""
    dump_id = r.int()
    r.int()  # had a data dumper
    r.str()  # table oid
    r.str()  # oid
    tag, desc = r.str() or "", r.str() or ""
    section = r.int()
    r.str()  # definition
    r.str()  # drop statement
    r.str()  # copy statement
    namespace = r.str() or ""
    r.str()  # tablespace
    if version[:2] >= (1, 14):
        r.str()  # table access method
    if version[:2] >= (1, 16):
        r.int()  # relkind
    r.str()  # owner
    r.str()  # "false" (WITH OIDS)
    deps = []
    while (dep := r.str()) is not None:  # dependencies, ended by a NULL
        deps.append(int(dep) if dep.isdigit() else 0)
    flag, pos = r.offset()
    if dump_id <= 0:
        raise NotAnArchive("archive table of contents is damaged")
    data_pos = pos if flag == OFFSET_POS_SET else None
    return Entry(dump_id, tag, desc, section, namespace, data_pos, tuple(deps))


def read_toc(path, *, first: int = 64 << 10, limit: int | None = None) -> Toc:
    """The table of contents of the archive file at ``path``, reading only as much as it takes."""
    size = first
    with open(path, "rb") as fh:
        while True:
            fh.seek(0)
            buf = fh.read(size)
            try:
                return parse_toc(buf)
            except NeedMore:
                if len(buf) < size or (limit is not None and size >= limit):
                    raise
                size *= 4

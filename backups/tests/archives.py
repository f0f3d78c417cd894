"""Custom-format archives written byte by byte the way pg_dump writes them (pg_backup_archiver.c
WriteHead/WriteToc, pg_backup_custom.c), for tests that must control every byte and every moment."""

from __future__ import annotations

from dataclasses import dataclass

INT_SIZE, OFF_SIZE = 4, 8
PRE, DATA, POST = 2, 3, 4


def w_int(value: int) -> bytes:
    return bytes([1 if value < 0 else 0]) + abs(value).to_bytes(INT_SIZE, "little")


def w_str(value: str | None) -> bytes:
    if value is None:
        return w_int(-1)
    data = value.encode()
    return w_int(len(data)) + data


@dataclass
class Item:
    dump_id: int
    desc: str
    tag: str
    section: int
    rows: list[bytes] | None = None  # a data block of these COPY rows
    deps: tuple[int, ...] = ()


def header(version: tuple[int, int, int] = (1, 14, 0)) -> bytes:
    out = b"PGDMP" + bytes(version) + bytes([INT_SIZE, OFF_SIZE, 1])
    out += bytes([0]) if version >= (1, 15, 0) else w_int(0)  # no compression
    out += b"".join(w_int(v) for v in (12, 30, 4, 27, 10, 126, 0))
    return out + w_str("appdb") + w_str("15.20") + w_str("15.20")


def toc(items: list[Item], positions: dict[int, int], version=(1, 14, 0)) -> bytes:
    out = w_int(len(items))
    for item in items:
        out += w_int(item.dump_id) + w_int(1 if item.rows is not None else 0)
        out += w_str("1259") + w_str(str(16000 + item.dump_id)) + w_str(item.tag) + w_str(item.desc)
        out += w_int(item.section) + w_str(f"-- {item.desc} {item.tag}") + w_str("")
        out += w_str(f"COPY public.{item.tag} FROM stdin;\n" if item.rows is not None else "")
        out += w_str("public") + w_str("")
        if version >= (1, 14, 0):
            out += w_str("heap")
        if version >= (1, 16, 0):
            out += w_int(ord("r"))
        out += w_str("postgres") + w_str("false")
        out += b"".join(w_str(str(d)) for d in item.deps) + w_str(None)
        if item.dump_id in positions:
            out += bytes([2]) + positions[item.dump_id].to_bytes(OFF_SIZE, "little")
        else:
            out += bytes([1 if item.rows is not None else 3]) + bytes(OFF_SIZE)
    return out


def block(item: Item) -> bytes:
    return bytes([1]) + w_int(item.dump_id) + b"".join(w_int(len(r)) + r for r in item.rows) + w_int(0)


def archive(items: list[Item], version=(1, 14, 0)) -> tuple[bytes, bytes, dict[int, int]]:
    """``(as first written, as rewritten at the end, data positions)``: the two differ only in the
    table of contents, which the rewrite fills with the data positions."""
    head_len = len(header(version)) + len(toc(items, {}, version))
    body, positions = b"", {}
    for item in items:
        if item.rows is not None:
            positions[item.dump_id] = head_len + len(body)
            body += block(item)
    first = header(version) + toc(items, {}, version) + body
    final = header(version) + toc(items, positions, version) + body
    assert len(first) == len(final)
    return first, final, positions


def sample(rows: int = 300) -> list[Item]:
    accounts = [f"{n}\tacct-{n}\t{n * 1.5}\n".encode() for n in range(rows)]
    events = [f"{n}\t{n % 7}\t{'x' * (n % 50)}\n".encode() for n in range(rows)]
    return [
        Item(10, "TABLE", "accounts", PRE),
        Item(11, "TABLE", "events", PRE),
        Item(20, "TABLE DATA", "accounts", DATA, accounts, (10,)),
        Item(21, "TABLE DATA", "events", DATA, events, (11,)),
        Item(22, "SEQUENCE SET", "accounts_id_seq", DATA),
        Item(30, "CONSTRAINT", "accounts_pkey", POST, deps=(10,)),
        Item(31, "FK CONSTRAINT", "events_account_fkey", POST, deps=(11, 30)),
    ]

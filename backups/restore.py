"""Restores with stock tools: ``pg_restore -j`` into an existing empty database, scratch databases
created and dropped on the same cluster, SQLite by decompressing the copy."""

from __future__ import annotations

import bisect
import contextlib
import fcntl
import hashlib
import io
import os
import secrets
import shutil
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, NamedTuple

import psycopg
from django.conf import settings
from psycopg import sql

from . import manifest as mf
from . import pgtools, pipeline, targets
from .engines import pgarchive
from .engines.database import pg_count, pg_env, pg_row_counts, sqlite_row_counts
from .pauses import retention_paused
from .storage import StorageError, crypto, for_location

if TYPE_CHECKING:
    from .models import Backup, BackupLocation

Opener = Callable[[str], BinaryIO]
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


class RestoreError(Exception):
    pass


class MissingKey(RestoreError):
    """The copy is encrypted to a key that no configured identity is (nothing was read or written)."""


class DamagedCopy(RestoreError):
    """The copy is not the one the manifest describes (its SHA-256 differs, or it does not
    decompress) and nothing was restored from it: another copy may still be intact."""


def _check_sha256(part: dict, sha256: str) -> None:
    if sha256 != part["sha256"]:
        raise DamagedCopy(f"{part['file']}: SHA-256 differs from the manifest; refusing to restore it")


def _admin_conn(base_url: str):
    return psycopg.connect(base_url, autocommit=True)


def create_database(base_url: str, name: str) -> str:
    """Create database ``name`` on the cluster of ``base_url``; return its URL."""
    with _admin_conn(base_url) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return targets.with_dbname(base_url, name)


def drop_database(base_url: str, name: str) -> None:
    with _admin_conn(base_url) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextlib.contextmanager
def scratch_database(base_url: str | None = None) -> Iterator[str]:
    """A uniquely named, empty database on the same cluster, dropped afterwards. Yields its URL."""
    base = targets.libpq_url(base_url or settings.BACKUP_SCRATCH_DATABASE_URL or targets.database_url())
    if not targets.is_postgres(base):
        raise RestoreError("scratch databases need a PostgreSQL cluster (BACKUP_SCRATCH_DATABASE_URL)")
    name = f"pitchey_scratch_{int(time.time())}_{secrets.token_hex(4)}"
    url = create_database(base, name)
    try:
        yield url
    finally:
        drop_database(base, name)


def temp_dir(label: str) -> Path:
    path = Path(settings.BACKUP_DIR) / ".tmp" / f"{label}-{secrets.token_hex(6)}"
    path.mkdir(parents=True)
    return path


def decompress_to(opener: Opener, part: dict, dest: Path, reporter: pipeline.Reporter | None = None) -> None:
    """Decompress one stored part into ``dest``, checking the stored SHA-256 on the way."""
    crypto.check_key(part)  # a wrong key stops here, before anything is written
    with opener(part["file"]) as raw:
        hashed = pipeline.HashingReader(raw)
        with crypto.plain(hashed, part) as plain:
            reader = pipeline.codec(part["compression"]).reader(plain)
            with open(dest, "wb") as out:
                try:
                    while chunk := reader.read(pipeline.CHUNK):
                        out.write(chunk)
                        if reporter:
                            reporter.add(len(chunk))
                    while plain.read(pipeline.CHUNK):  # the rest, if the codec stopped before the end
                        pass
                except (*pipeline.DECODE_ERRORS, crypto.DecryptFailed) as exc:
                    raise DamagedCopy(f"{part['file']}: does not decompress ({exc}); refusing to restore it") from None
    _check_sha256(part, hashed.sha.hexdigest())


def _pg_restore_argv(database_url: str, *options: str, no_owner: bool = True) -> tuple[list[str], dict]:
    bare, env = pg_env(database_url)
    argv = [pgtools.program("pg_restore"), "--exit-on-error", *options, "-d", bare]
    if no_owner:
        argv += ["--no-owner", "--no-privileges"]
    return argv, env


def _pg_restore_failed(returncode: int, stderr: str) -> RestoreError:
    return RestoreError(f"pg_restore exited {returncode}: {_error_line(stderr)}")


def _error_line(stderr: str) -> str:
    """The line that says why, as one line: the server's ERROR, else pg_restore's own error, else
    its last words (the lines after it are DETAIL, CONTEXT and the failed command)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for marker in ("ERROR:", "error:"):
        for line in lines:
            if marker in line:
                return " ".join(line[line.index(marker) :].removeprefix("error:").split())
    return lines[-1] if lines else "no output"


def pg_restore(dump: Path, database_url: str, *options: str, jobs: int = 2, no_owner: bool = True) -> None:
    argv, env = _pg_restore_argv(database_url, f"--jobs={jobs}", *options, no_owner=no_owner)
    done = subprocess.run([*argv, str(dump)], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise _pg_restore_failed(done.returncode, done.stderr)


def _seekable(opener: Opener, name: str) -> bool:
    with opener(name) as fh:
        return bool(getattr(fh, "seekable", lambda: False)())


@dataclass(frozen=True)
class RestoreJob:
    """A followed dump on its way into a database: the stored copy, its table of contents and frame
    index, and where the rows go. Every loader of the restore reads from it."""

    opener: Opener
    part: dict
    codec: pipeline.Codec
    head: bytes  # the table of contents as stored: the start of every pg_restore's input
    frames: list[tuple[int, int]]  # (uncompressed offset, stored offset) of every frame
    database_url: str
    work: Path

    @property
    def name(self) -> str:
        return self.part["file"]

    def checksum(self) -> None:
        with self.opener(self.name) as raw:
            _check_sha256(self.part, pipeline.sha256_stream(raw)[1])


class Block(NamedTuple):
    """One entry's data block in the uncompressed dump."""

    entry: pgarchive.Entry
    start: int
    length: int


def restore_streaming(
    opener: Opener, part: dict, database_url: str, *, work: Path, jobs: int = 2, checksum_first: bool = True
) -> dict[str, int]:
    """Restore a followed dump (one with a frame index) without writing it out uncompressed.

    What ``pg_restore -j`` does, with the decompression inside the pipeline instead of before it:
    1. the table of contents (the first frame) is read, and the stored copy's SHA-256 checked:
       before anything is restored when another copy could be tried instead (``checksum_first``),
       else by the first loader that runs out of tables (every frame carries its own checksum too);
    2. ``pg_restore --section=pre-data`` creates the schema from the table of contents alone;
    3. ``jobs`` loaders run at once, largest table first: each decompresses only its table's data
       block (from the frame that holds it) into a ``pg_restore`` that reads the table of contents
       and that block from a pipe, loads the rows and then builds the table's own indexes and keys
       in the same session, while the other loaders go on; the server's count of rows inserted
       is checked against the manifest's (``count(*)`` when they differ);
    4. sequence values are set while the loaders run; then any other data entry without a block
       and ``pg_restore --section=post-data -j`` for the rest
       (foreign keys, triggers, …) from the table of contents.
    Returns the rows of every table."""
    codec = pipeline.codec(part["compression"])
    threading.Thread(target=_read_ahead, args=(opener, part["file"]), name="restore-read-ahead", daemon=True).start()
    head, toc = _read_toc(opener, part, codec)
    job = RestoreJob(opener, part, codec, head, [tuple(f) for f in part["frames"]], database_url, work)
    toc_path = work / "toc.dump"
    toc_path.write_bytes(head)
    entries = {entry.dump_id: entry for entry in toc.entries}
    blocks = sorted((Block(entries[d], start, n) for d, start, n in part["blocks"]), key=lambda block: -block.length)
    own = _own_indexes(toc)
    if checksum_first:
        job.checksum()
    pg_restore(toc_path, database_url, "--section=pre-data", jobs=1)
    sequences, rest = _without_block(toc, blocks)
    counted = _load_blocks(job, toc_path, blocks, own, sequences, jobs=jobs, checksum_last=not checksum_first)
    if rest:
        pg_restore(toc_path, database_url, "--section=data", "--use-list", _listing(work / "rest.list", rest), jobs=1)
    _restore_post_data(job, toc, toc_path, own, jobs=jobs)
    with psycopg.connect(database_url) as conn:
        return pg_row_counts(conn, counted)


def _read_toc(opener: Opener, part: dict, codec: pipeline.Codec) -> tuple[bytes, pgarchive.Toc]:
    """The stored table of contents (the first frame) and what it says."""
    try:
        with opener(part["file"]) as raw:
            head = codec.reader(raw).read(part["toc_size"])
        return head, pgarchive.parse_toc(head)
    except (*pipeline.DECODE_ERRORS, pgarchive.NeedMore, pgarchive.NotAnArchive) as exc:
        raise DamagedCopy(f"{part['file']}: unreadable table of contents ({exc.__class__.__name__})") from None


def _without_block(toc: pgarchive.Toc, blocks: list[Block]) -> tuple[list[pgarchive.Entry], list[pgarchive.Entry]]:
    """The data entries without a block: sequence values (they need only the schema: set while the
    loaders run) and anything else (restored after the tables)."""
    placed = {block.entry.dump_id for block in blocks}
    rest = [e for e in toc.entries if e.section == pgarchive.SECTION_DATA and e.dump_id not in placed]
    sequences = [e for e in rest if e.desc == "SEQUENCE SET"]
    return sequences, [e for e in rest if e not in sequences]


def _load_blocks(
    job: RestoreJob,
    toc_path: Path,
    blocks: list[Block],
    own: dict[int, list[pgarchive.Entry]],
    sequences: list[pgarchive.Entry],
    *,
    jobs: int,
    checksum_last: bool,
) -> dict[str, int]:
    """Every data block by ``jobs`` loaders, largest first, with the sequence values set meanwhile.
    With ``checksum_last``, the checksum is the loaders' last job: the first loader to run out of
    tables takes it, while the others finish theirs. Returns the rows loaded per table."""
    counted: dict[str, int] = {}

    def load(block: Block | None) -> None:
        if block is None:
            job.checksum()
        elif block.entry.desc == "TABLE DATA":
            expected = job.part.get("tables", {}).get(block.entry.qualified)
            counted[block.entry.qualified] = _load_table(job, block, own.get(block.entry.dump_id, []), expected)
        else:  # large objects: nothing is theirs alone
            _load_block(job, block)

    with ThreadPoolExecutor(max(1, jobs), thread_name_prefix="restore-load") as loaders:
        loaded = loaders.map(load, [*blocks, None] if checksum_last else blocks)
        if sequences:
            listing = _listing(job.work / "sequences.list", sequences)
            pg_restore(toc_path, job.database_url, "--section=data", "--use-list", listing, jobs=1)
        list(loaded)
    return counted


def _restore_post_data(
    job: RestoreJob, toc: pgarchive.Toc, toc_path: Path, own: dict[int, list[pgarchive.Entry]], *, jobs: int
) -> None:
    """What the loaders did not build with their tables: foreign keys, triggers, … (``-j``)."""
    done = {e.dump_id for batch in own.values() for e in batch}
    left = [e for e in toc.entries if e.section == pgarchive.SECTION_POST_DATA and e.dump_id not in done]
    if left:
        everything_else = [e for e in toc.entries if e.dump_id not in done]  # comments follow their objects
        listing = _listing(job.work / "post.list", everything_else)
        pg_restore(toc_path, job.database_url, "--section=post-data", "--use-list", listing, jobs=jobs)


READ_AHEAD = 8 * 1024 * 1024  # per request: what one readahead request of the kernel reads at most
READ_AHEAD_MAX = 1024 * 1024 * 1024  # of a larger copy, the first GiB: more would push itself out of memory


def _read_ahead(opener: Opener, name: str) -> None:
    """Ask the kernel to read a local copy into memory now (``POSIX_FADV_WILLNEED``, window by
    window: a single request stops after one window): the disk then reads at its own pace while
    the schema is created, and the loaders find their frames in memory. Other copies: nothing."""

    if not hasattr(os, "posix_fadvise"):
        return
    with (
        contextlib.suppress(OSError, ValueError, AttributeError, io.UnsupportedOperation, StorageError),
        opener(name) as fh,
    ):
        fd = fh.fileno()  # a file on this machine, or an error: nothing to do
        for offset in range(0, min(os.fstat(fd).st_size, READ_AHEAD_MAX), READ_AHEAD):
            os.posix_fadvise(fd, offset, READ_AHEAD, os.POSIX_FADV_WILLNEED)


def _own_indexes(toc: pgarchive.Toc) -> dict[int, list[pgarchive.Entry]]:
    """Post-data entries that need one table's data and nothing restored after it: its indexes,
    primary key and unique constraints, keyed by the id of the table's data entry. Foreign keys,
    triggers and anything else that may need another table wait for the final post-data step."""
    by_id = {e.dump_id: e for e in toc.entries}
    data_of = {dep: e.dump_id for e in toc.entries if e.desc == "TABLE DATA" for dep in e.deps}
    own: dict[int, list[pgarchive.Entry]] = {}
    for entry in toc.entries:
        if entry.section != pgarchive.SECTION_POST_DATA or entry.desc not in ("INDEX", "CONSTRAINT"):
            continue
        tables = {data_of[d] for d in entry.deps if d in data_of}
        others = [d for d in entry.deps if d not in data_of]
        if len(tables) == 1 and all(d in by_id and by_id[d].section == pgarchive.SECTION_PRE_DATA for d in others):
            own.setdefault(tables.pop(), []).append(entry)
    # Their comments and labels (no section of their own: pg_restore gives them the section of the
    # entry before them) go right after them, in the same step.
    batch_of = {e.dump_id: key for key, batch in own.items() for e in batch}
    for entry in toc.entries:
        keys = {batch_of.get(d) for d in entry.deps}
        if entry.section == pgarchive.SECTION_NONE and entry.deps and len(keys) == 1 and None not in keys:
            own[keys.pop()].append(entry)
    return own


def _listing(path: Path, entries: list[pgarchive.Entry]) -> str:
    path.write_text("".join(f"{e.dump_id}; {e.desc} {e.namespace} {e.tag}\n" for e in entries))
    return str(path)


def _feed(job: RestoreJob, block: Block, stdin: BinaryIO) -> None:
    """Write the table of contents and one data block (decompressed from the frame that holds its
    start) into a pg_restore's standard input, then close it."""
    entry, start, length = block
    raw_at, stored_at = job.frames[bisect.bisect_right(job.frames, (start, float("inf"))) - 1]
    with contextlib.suppress(OSError):  # a 1 MiB pipe: one write per chunk instead of sixteen
        fcntl.fcntl(stdin.fileno(), F_SETPIPE_SZ, pipeline.CHUNK)
    try:
        with job.opener(job.name) as raw:
            raw.seek(stored_at)
            reader = job.codec.reader(raw)
            _skip(reader, start - raw_at)
            stdin.write(job.head)
            left = length
            while left:
                data = reader.read(min(pipeline.CHUNK, left))
                if not data:
                    raise RestoreError(f"{job.name}: ends inside the data of {entry.qualified}")
                stdin.write(data)
                left -= len(data)
    except BrokenPipeError:
        pass  # pg_restore stopped reading: its exit status and message say why
    except pipeline.DECODE_ERRORS as exc:
        raise RestoreError(f"{job.name}: damaged data in {entry.qualified} ({exc})") from None
    finally:
        with contextlib.suppress(OSError):
            stdin.close()  # also when we stop early: pg_restore must not wait for the rest


def _load_block(job: RestoreJob, block: Block, own: Sequence[pgarchive.Entry] = ()) -> None:
    """One data block, then what needs only it (``own``: its table's indexes and keys), in one
    ``pg_restore`` session that reads the table of contents and the block from a pipe."""
    entry = block.entry
    listing = _listing(job.work / f"{entry.dump_id}.list", [entry, *own])  # pg_restore -L keeps this order
    argv, env = _pg_restore_argv(job.database_url, "--format=custom", "--use-list", listing)
    with open(job.work / f"{entry.dump_id}.stderr", "w+") as err:
        proc = subprocess.Popen(
            [*_piped_input(), *argv], env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err
        )
        try:
            _feed(job, block, proc.stdin)
        except BaseException:
            proc.kill()
            raise
        finally:
            returncode = proc.wait()
        if returncode != 0:
            err.seek(0)
            raise RestoreError(f"loading {entry.qualified}: {_error_line(err.read())}")


def _piped_input() -> list[str]:
    """pg_restore reads its archive through C stdio, which buffers a pipe 4 KiB at a time: a
    quarter of a million reads per GiB. coreutils' ``stdbuf -i`` gives its standard input a buffer
    the size of our writes; without stdbuf, pg_restore runs as it is."""
    stdbuf = shutil.which("stdbuf")
    return [stdbuf, f"--input={pipeline.CHUNK}"] if stdbuf else []


def _load_table(job: RestoreJob, block: Block, own: Sequence[pgarchive.Entry], expected: int | None) -> int:
    """A table's rows, then its own indexes and keys; returns the rows it holds."""
    _load_block(job, block, own)
    return _rows_loaded(job.database_url, block.entry, expected)


CONFIRM_S = 0.5  # how long the server's counter may take to show a finished session's inserts


def _rows_loaded(database_url: str, entry, expected: int | None) -> int:
    """The rows in a table just loaded. The server counts the rows each transaction inserts
    (``n_tup_ins`` in its statistics, published whole when the loading session goes idle or ends,
    a moment after pg_restore exits); the table's rows came in one COPY, so that count is all of
    them or none yet. When it is the manifest's, it is the answer without reading the table again;
    any other count (not published yet after ``CONFIRM_S``, statistics off or reset, a server
    before PostgreSQL 15, rows missing) and an empty table are settled by ``count(*)``."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        if expected and conn.info.server_version >= 150000:
            inserted = "SELECT pg_stat_get_tuples_inserted(to_regclass(format('%%I.%%I', %s::text, %s::text)))"
            deadline = time.monotonic() + CONFIRM_S
            while conn.execute(inserted, [entry.namespace, entry.tag]).fetchone()[0] != expected:
                if time.monotonic() > deadline:
                    return pg_count(conn, entry.namespace, entry.tag)
                time.sleep(0.005)
            return expected
        return pg_count(conn, entry.namespace, entry.tag)


def _skip(reader, n: int) -> None:
    while n:
        data = reader.read(min(pipeline.CHUNK, n))
        if not data:
            raise RestoreError("the frame index points past the end of the copy")
        n -= len(data)


def restore_part(opener: Opener, part: dict, database_url: str, *, jobs: int = 2, checksum_first: bool = True) -> dict:
    """Restore a database part (PostgreSQL custom dump or SQLite copy) into ``database_url``.

    ``checksum_first=False`` lets a followed dump's checksum run alongside its restore (for the
    last copy there is: nothing else could be tried should it differ)."""
    t0 = time.monotonic()
    try:
        crypto.check_key(part)  # before anything is created or written
    except crypto.AgeKeyError as exc:
        raise MissingKey(f"{part['file']}: {exc}") from None
    work = temp_dir("restore")
    try:
        if part["format"] == "sqlite":
            dest = targets.sqlite_path(database_url)
            if dest.exists() and dest.stat().st_size:
                raise RestoreError(f"{dest} exists and is not empty")
            decompress_to(opener, part, work / "db.sqlite3")
            shutil.move(work / "db.sqlite3", dest)

            with contextlib.closing(sqlite3.connect(dest)) as conn:
                tables = sqlite_row_counts(conn)
        elif (
            part["format"] == "pg_dump-custom"
            and part.get("frames")
            and not part.get("encryption")
            and _seekable(opener, part["file"])
        ):
            tables = restore_streaming(opener, part, database_url, work=work, jobs=jobs, checksum_first=checksum_first)
        elif part["format"] == "pg_dump-custom":  # made before frame indexes, or a copy we cannot seek in
            dump = work / "database.pgdump"
            decompress_to(opener, part, dump)
            pg_restore(dump, database_url, jobs=jobs)
            with psycopg.connect(database_url) as conn:
                tables = pg_row_counts(conn)
        else:
            raise RestoreError(f"not a database part: {part['format']}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"tables": tables, "duration_s": round(time.monotonic() - t0, 3)}


def database_part(manifest: dict) -> dict:
    for part in mf.stored_parts(manifest):
        if part["part"] == "database":
            return part
    raise RestoreError(f"backup {manifest.get('id')} has no database part")


def location_opener(location: BackupLocation) -> Opener:

    storage = for_location(location.tier, location.uri)
    return lambda name: storage.open(storage.sibling(location.uri, name))


def restore_database(*, backup: Backup, database_url: str, jobs: int = 2) -> dict:
    """Restore ``backup``'s database into the existing, empty database at ``database_url``.

    Reads the first copy that passes its checksum, local first. Returns
    ``{"tables": {name: rows}, "duration_s": …, "tier": …}``."""

    errors = []
    order = {"local": 0, "cloud": 1, "archive": 2}
    with retention_paused(f"restore of backup {backup.id}"):  # its files must not be pruned meanwhile
        locations = sorted(backup.locations.all(), key=lambda loc: order.get(loc.tier, 9))
        for n, location in enumerate(locations, 1):
            try:
                last = n == len(locations)
                part = database_part(mf.for_tier(backup.manifest, location.tier))  # as that tier stores it
                result = restore_part(location_opener(location), part, database_url, jobs=jobs, checksum_first=not last)
                return result | {"tier": location.tier}
            except (RestoreError, StorageError, OSError) as exc:
                if isinstance(exc, RestoreError) and not isinstance(exc, DamagedCopy | MissingKey):
                    raise  # the copy was intact; the restore itself failed
                errors.append(f"{location.tier}: {exc}")
    raise RestoreError("no intact copy: " + "; ".join(errors) if errors else "backup has no stored copy")


def file_sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()

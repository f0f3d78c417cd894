"""Verification in increasing depth, each check timed:

1. ``checksum``: stored size and SHA-256 of every file against the manifest;
2. ``decompress``: the whole stream decompresses (zstd/gzip frame checks) to the recorded size and SHA-256;
3. ``list``: the archive's table of contents reads (``pg_restore --list``; SQLite integrity check;
   tar members against the manifest's files);
4. ``restore``: a restore into a scratch database (or directory) whose per-table row counts (or
   per-file hashes) match the manifest.

Works from a manifest and an opener alone, so ``backup verify PATH`` needs no catalog."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import subprocess
import tarfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from django.utils import timezone

from . import manifest as mf
from . import pgtools, pipeline
from .restore import RestoreError, decompress_to, file_sha256, restore_part, scratch_database, temp_dir
from .scratch_redis import ScratchRedisError, key_counts, scratch_server
from .storage import crypto

LEVELS = ("checksum", "decompress", "list", "restore")
Opener = Callable[[str], BinaryIO]


class CheckFailed(Exception):
    pass


def _checksum(opener: Opener, part: dict, reporter) -> str:
    with opener(part["file"]) as fh:
        size, sha = pipeline.sha256_stream(fh, reporter)
    if size != part["size"]:
        raise CheckFailed(f"size {size} differs from the manifest's {part['size']}")
    if sha != part["sha256"]:
        raise CheckFailed(f"SHA-256 {sha[:12]}… differs from the manifest's {part['sha256'][:12]}…")
    return f"{size} bytes, SHA-256 matches"


def _decompressed_chunks(opener: Opener, part: dict):
    with opener(part["file"]) as fh, crypto.plain(fh, part) as plain:
        reader = pipeline.codec(part["compression"]).reader(plain)
        while chunk := reader.read(pipeline.CHUNK):
            yield chunk


def _decompress(opener: Opener, part: dict, reporter) -> str:

    try:
        size, digest = pipeline.sha256_chunks(_decompressed_chunks(opener, part), reporter)
    except Exception as exc:  # zstandard.ZstdError, gzip.BadGzipFile, EOFError, zlib.error
        raise CheckFailed(f"does not decompress: {exc}") from None
    # A dump compressed while pg_dump wrote it has no uncompressed SHA-256: its frames' own content
    # checksums were checked while decompressing.
    expected_sha = part.get("uncompressed_sha256")
    if size != part["uncompressed_size"] or (expected_sha and digest != expected_sha):
        raise CheckFailed(f"decompresses to {size} bytes that differ from the manifest")
    return f"decompresses to {size} bytes, SHA-256 matches"


def _list(opener: Opener, part: dict, reporter) -> str:
    fmt = part["format"]
    if fmt == "pg_dump-custom":
        return _list_pg(opener, part)
    if fmt == "sqlite":
        return _list_sqlite(opener, part)
    if fmt == "redis-rdb":
        return _list_rdb(opener, part)
    if fmt == "pg_basebackup-tar":
        return _list_basebackup(opener, part)
    if fmt == "tar":
        expected = {f["path"]: f["size"] for f in part.get("files", [])}
        seen = {}
        with contextlib.ExitStack() as stack:
            fh = stack.enter_context(opener(part["file"]))
            reader = pipeline.codec(part["compression"]).reader(stack.enter_context(crypto.plain(fh, part)))
            try:
                with tarfile.open(fileobj=reader, mode="r|") as tar:
                    for member in tar:
                        if member.isreg():
                            seen[member.name] = member.size
            except (tarfile.TarError, Exception) as exc:
                raise CheckFailed(f"tar does not read: {exc}") from None
        if seen != expected:
            diff = set(seen.items()) ^ set(expected.items())
            raise CheckFailed(f"tar members differ from the manifest: {sorted(diff)[:3]}")
        return f"{len(seen)} files listed as in the manifest"
    return "nothing to list"


def _list_sqlite(opener: Opener, part: dict) -> str:
    work = temp_dir("verify")
    try:
        decompress_to(opener, part, work / "db.sqlite3")
        with contextlib.closing(sqlite3.connect(work / "db.sqlite3")) as conn:
            result = conn.execute("PRAGMA integrity_check").fetchone()[0]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if result != "ok":
        raise CheckFailed(f"integrity_check: {result}")
    missing = set(part.get("tables", {})) - tables
    if missing:
        raise CheckFailed(f"tables missing: {sorted(missing)[:5]}")
    return f"integrity ok, {len(tables)} tables"


def _list_rdb(opener: Opener, part: dict) -> str:
    with opener(part["file"]) as fh:
        head = pipeline.codec(part["compression"]).reader(fh).read(9)
    if not head.startswith(b"REDIS") or not head[5:].isdigit():
        raise CheckFailed("not a Redis RDB snapshot (no REDIS header)")
    return f"RDB version {int(head[5:])}, {sum(part.get('keys', {}).values())} keys recorded"


def _list_basebackup(opener: Opener, part: dict) -> str:
    """A base backup's tar reads to its end; the data directory's holds PG_VERSION and global/pg_control."""
    names = set()
    with opener(part["file"]) as fh:
        reader = pipeline.codec(part["compression"]).reader(fh)
        try:
            with tarfile.open(fileobj=reader, mode="r|") as tar:
                names = {member.name for member in tar}
        except Exception as exc:  # tarfile.TarError, zstandard.ZstdError, EOFError
            raise CheckFailed(f"tar does not read: {exc}") from None
    if part["part"] == "base" and not {"PG_VERSION", "global/pg_control"} <= names:
        raise CheckFailed("not a PostgreSQL data directory: PG_VERSION or global/pg_control missing")
    return f"{len(names)} members"


def _list_pg(opener: Opener, part: dict) -> str:
    proc = subprocess.Popen(
        [pgtools.program("pg_restore"), "--list"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )

    out: dict = {}
    readers = [
        threading.Thread(target=lambda name=name: out.__setitem__(name, getattr(proc, name).read()), daemon=True)
        for name in ("stdout", "stderr")
    ]
    for thread in readers:
        thread.start()
    try:
        for chunk in _decompressed_chunks(opener, part):
            proc.stdin.write(chunk)
    except BrokenPipeError:
        pass  # pg_restore has read the table of contents and stopped reading
    except Exception as exc:
        proc.kill()
        proc.wait()
        raise CheckFailed(f"does not decompress: {exc}") from None
    finally:
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()
    for thread in readers:
        thread.join()
    proc.wait()
    if proc.returncode != 0:
        lines = out.get("stderr", b"").decode(errors="replace").strip().splitlines()
        raise CheckFailed(f"pg_restore --list exited {proc.returncode}: {lines[-1] if lines else ''}")
    data_entries = _data_entries(out["stdout"].decode(errors="replace"))
    missing = set(part.get("tables", {})) - data_entries
    if missing:
        raise CheckFailed(f"tables missing from the archive: {sorted(missing)[:5]}")
    return f"table of contents reads, {len(data_entries)} tables with data"


def _data_entries(listing: str) -> set[str]:
    """The tables (``schema.table``) with a data entry in ``pg_restore --list``'s output."""
    data_entries = set()
    for line in listing.splitlines():
        if " TABLE DATA " in line and not line.startswith(";"):
            fields = line.split(" TABLE DATA ", 1)[1].split()
            if len(fields) >= 2:
                data_entries.add(f"{fields[0]}.{fields[1]}")
    return data_entries


def _restore(opener: Opener, part: dict, reporter, scratch_url: str | None) -> str:
    fmt = part["format"]
    if fmt == "pg_dump-custom":
        with scratch_database(scratch_url) as url:
            result = restore_part(opener, part, url)
        return compare_tables(part, result)
    if fmt == "sqlite":
        work = temp_dir("verify")
        try:
            result = restore_part(opener, part, f"sqlite:///{work / 'restored.sqlite3'}")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return compare_tables(part, result)
    if fmt == "redis-rdb":
        return _restore_rdb(opener, part)
    if fmt == "tar":
        work = temp_dir("verify")
        try:
            with opener(part["file"]) as fh, crypto.plain(fh, part) as plain:
                reader = pipeline.codec(part["compression"]).reader(plain)
                with tarfile.open(fileobj=reader, mode="r|") as tar:
                    tar.extractall(work, filter="data")
            for entry in part.get("files", []):
                path = work / entry["path"]
                if not path.is_file() or file_sha256(path) != entry["sha256"]:
                    raise CheckFailed(f"restored {entry['path']} differs from the manifest")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return f"{len(part.get('files', []))} files restored, every SHA-256 matches"
    return "nothing to restore"


def _restore_rdb(opener: Opener, part: dict) -> str:
    """Loaded into a scratch redis-server on a free port: its keys per database against the manifest's."""
    work = temp_dir("verify")
    try:
        decompress_to(opener, part, work / "dump.rdb")
        t0 = time.monotonic()
        with scratch_server(work / "dump.rdb") as scratch:
            got = key_counts(scratch)
    except ScratchRedisError as exc:
        raise CheckFailed(str(exc)) from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    expected = part.get("keys", {})
    if got != expected:
        raise CheckFailed(f"keys per database {got} differ from the manifest's {expected}")
    took = round(time.monotonic() - t0, 3)
    return f"loaded into a scratch redis-server in {took} s; {sum(got.values())} keys in {len(got)} db(s) match"


def compare_tables(part: dict, result: dict) -> str:
    expected, got = part.get("tables", {}), result["tables"]
    wrong = {t: (n, got.get(t)) for t, n in expected.items() if got.get(t) != n}
    if wrong:
        sample = ", ".join(f"{t}: {a} expected, {b} restored" for t, (a, b) in list(wrong.items())[:3])
        raise CheckFailed(f"row counts differ in {len(wrong)} tables: {sample}")
    return f"restored in {result['duration_s']} s; {len(expected)} tables, {sum(expected.values())} rows match"


CHECKS = {"checksum": _checksum, "decompress": _decompress, "list": _list}


def verify(
    manifest: dict,
    opener: Opener,
    *,
    depth: str = "list",
    scratch_url: str | None = None,
    reporter: pipeline.Reporter | None = None,
    skip: tuple[str, ...] = (),
) -> dict:
    """Run every check up to ``depth`` (but those in ``skip``) on every stored part. Returns
    ``{ok, checked_at, level, detail, duration_s, checks: [{check, file, ok, duration_s, detail}]}``."""
    levels = [level for level in LEVELS[: LEVELS.index(depth) + 1] if level not in skip]
    key = _key_status(manifest)
    checks = []
    t_all = time.monotonic()
    if key and not key["key_available"]:
        levels, checks = _without_key(levels, depth, manifest, key)
    for part in mf.stored_parts(manifest):
        for level in levels:
            if part["part"] == "globals" and level in ("list", "restore"):
                continue
            if reporter:
                total = part["size"] if level == "checksum" else part.get("uncompressed_size", 0)
                reporter.start(f"verify {level}", total)
            checks.append(_check(level, opener, part, reporter=reporter, scratch_url=scratch_url))
            if not checks[-1]["ok"]:
                break  # deeper checks of a broken part say nothing more
    ok, detail = _outcome(checks, depth)
    result = {
        "ok": ok,
        "checked_at": timezone.now().isoformat(),
        "level": depth,
        "detail": detail,
        "duration_s": round(time.monotonic() - t_all, 3),
        "checks": checks,
    }
    return _with_key(result, key) if key else result


def _with_key(result: dict, key: dict) -> dict:
    """The result says which age key the copy needs, and whether it was here to read it."""
    here = f"here: {key['key']}" if key["key_available"] else "not available here: checked by SHA-256 only"
    detail = f"{result['detail']}; encrypted with age: needs {key['needs']} ({here})"
    return result | {"encryption": key, "detail": detail}


def _without_key(levels: list[str], depth: str, manifest: dict, key: dict) -> tuple[list[str], list[dict]]:
    """Encrypted, and no identity here opens it (a server may hold only the public keys): its stored
    bytes are checked; reading them needs the key, so a restore test fails without it."""
    checks = [_no_key("restore", manifest, key)] if depth == "restore" else []
    return [level for level in levels if level == "checksum"], checks


def _key_status(manifest: dict) -> dict | None:
    """Which age key the copy needs and whether a configured identity is it (None: not encrypted)."""
    encryption = next((p["encryption"] for p in mf.stored_parts(manifest) if p.get("encryption")), None)
    return crypto.key_status(encryption)


def _no_key(level: str, manifest: dict, key: dict) -> dict:
    primary = mf.stored_parts(manifest)[0]["file"] if mf.stored_parts(manifest) else ""
    detail = key.get("detail") or f"needs {key['needs']}; no configured identity (BACKUP_AGE_IDENTITY_FILE) is it"
    return {"check": level, "file": primary, "ok": False, "duration_s": 0.0, "detail": detail}


def _outcome(checks: list[dict], depth: str) -> tuple[bool, str]:
    failed = [c for c in checks if not c["ok"]]
    detail = (
        f"{failed[0]['file']}: {failed[0]['check']}: {failed[0]['detail']}"
        if failed
        else f"{len(checks)} checks passed up to {depth}"
        if checks
        else "nothing to check"
    )
    return bool(checks) and not failed, detail


def _check(
    level: str, opener: Opener, part: dict, *, reporter: pipeline.Reporter | None, scratch_url: str | None
) -> dict:
    """One check of one part: ``{check, file, ok, duration_s, detail}``."""
    t0 = time.monotonic()
    try:
        if level == "restore":
            detail = _restore(opener, part, reporter, scratch_url)
        else:
            detail = CHECKS[level](opener, part, reporter)
        ok = True
    except (CheckFailed, RestoreError) as exc:
        ok, detail = False, str(exc)
    except Exception as exc:  # a missing file, an unreachable bucket: the check fails
        ok, detail = False, f"{exc.__class__.__name__}: {exc}".splitlines()[0]
    return {
        "check": level,
        "file": part["file"],
        "ok": ok,
        "duration_s": round(time.monotonic() - t0, 3),
        "detail": detail,
    }


def verify_path(path: Path, *, depth: str = "list", scratch_url: str | None = None) -> dict:
    """``backup verify PATH``: a file (or its manifest) and the manifest beside it, no catalog."""
    manifest_path = mf.beside(Path(path))
    if not manifest_path.exists():
        raise FileNotFoundError(f"no manifest beside {path} (looked for {manifest_path.name})")
    manifest = mf.loads(manifest_path.read_bytes())
    folder = manifest_path.parent
    return verify(manifest, lambda name: open(folder / name, "rb"), depth=depth, scratch_url=scratch_url)

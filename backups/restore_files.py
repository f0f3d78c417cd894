"""Restoring files: configuration, media, the file parts of a full backup and a sessions snapshot.

1. Every part's stored copy is checked against the manifest (size and SHA-256) before anything is
   touched; a damaged or missing copy is passed over for the next tier's.
2. Each destination is extracted beside itself (``.NAME.restore-TAG``, so on the same volume),
   member by member: absolute names, ``..``, links leaving the destination and device files are
   refused, and every file's SHA-256 is compared with the manifest as it is written.
3. The extracted folder and the live one swap places in one step (``renameat2(RENAME_EXCHANGE)``):
   there is never a moment without the folder, nor a half-extracted one in its place. The previous
   content now sits at the staging name.
4. The live folder is compared with the manifest (file list and SHA-256); only then is the previous
   content removed. Any failure swaps it back.

A journal of every destination (staging path, the staged inode) is saved before the first file is
written, so a sweeper can undo the work of a worker that died: ``rollback`` recognises a swapped
destination by its inode."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import os
import posixpath
import shutil
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import BinaryIO

from . import manifest as mf
from . import pipeline, targets
from .restore import DamagedCopy, MissingKey, RestoreError, file_sha256
from .storage import StorageError, crypto

Opener = Callable[[str], BinaryIO]
Journal = Callable[[list[dict]], None]
FILE_PARTS = ("config", "media", "sessions")
RENAME_EXCHANGE = 2
AT_FDCWD = -100
DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


@dataclass(frozen=True)
class Destination:
    """Where the members of one part under ``prefix`` go: the folder (or file) ``path``."""

    part: dict
    prefix: str  # archive members at or under this name; "" is the whole archive
    path: Path
    is_file: bool = False

    def staging(self, tag: str) -> Path:
        return self.path.parent / f".{self.path.name}.restore-{tag}"

    @cached_property
    def expected(self) -> dict[str, str]:
        """The files it will hold, relative path → SHA-256 ("" is the destination itself, a file)."""
        if self.part["format"] != "tar":
            return {"": self.part["uncompressed_sha256"]}
        found = {}
        for entry in self.part.get("files", []):
            rel = _relative(entry["path"], self.prefix)
            if rel is not None:
                found[rel] = entry["sha256"]
        return found


def _relative(name: str, prefix: str) -> str | None:
    name = name.rstrip("/")
    if not prefix:
        return name
    if name == prefix:
        return ""
    return name[len(prefix) + 1 :] if name.startswith(prefix + "/") else None


# --- where each part goes ------------------------------------------------------------------------


def file_parts(manifest: dict, only: list[str] | None = None) -> list[dict]:
    return [p for p in mf.stored_parts(manifest) if p["part"] in FILE_PARTS and (not only or p["part"] in only)]


def destinations(
    manifest: dict, *, into: Path | None, only: list[str] | None = None
) -> tuple[list[Destination], list[str]]:
    """The destinations of a backup's file parts (``only`` these, when given), and notes on what
    is not restored and why."""
    dests: list[Destination] = []
    notes: list[str] = []
    several = len(file_parts(manifest, only)) > 1
    for part in file_parts(manifest, only):
        if into is not None:
            base = into / part["part"] if several else into
            if part["part"] == "sessions":
                dests.append(Destination(part, "", base / "dump.rdb", is_file=True))
            else:
                dests.append(Destination(part, "" if part["part"] == "config" else part["part"], base))
        elif part["part"] == "media":
            dests.append(Destination(part, "media", targets.media_dir()))
        elif part["part"] == "config":
            found, said = _config_destinations(part)
            dests += found
            notes += said
        else:
            notes.append(f"{part['part']}: restored only with --into DIR (then: redis-server --dir DIR)")
    return dests, notes


def _config_destinations(part: dict) -> tuple[list[Destination], list[str]]:
    """One destination per ``CONFIG_PATHS`` entry the archive holds; the rest is only noted."""
    dests, notes, covered = [], [], set()
    names = {entry["path"] for entry in part.get("files", [])}
    for path in targets.config_paths():
        prefix = "config/" + path.resolve().as_posix().lstrip("/")
        inside = {n for n in names if n == prefix or n.startswith(prefix + "/")}
        if not inside:
            notes.append(f"config: {path} is not in this backup")
            continue
        covered |= inside
        dests.append(Destination(part, prefix, path, is_file=prefix in names))
    if names - covered:
        notes.append(f"config: {len(names - covered)} file(s) outside CONFIG_PATHS not restored (see --into)")
    return dests, notes


def is_ours(path: Path) -> bool:
    """A folder we may restore into without ``force``: absent or empty, or inside a configured target."""
    path = Path(os.path.abspath(path))
    if not path.exists() or (path.is_dir() and not any(path.iterdir())):
        return True
    for root in [targets.media_dir(), *targets.config_paths()]:
        root = Path(os.path.abspath(root))
        if path == root or root in path.parents:
            return True
    return False


# --- what would change ---------------------------------------------------------------------------


def present_files(dest: Destination) -> dict[str, Path]:
    """The regular files at the destination now, relative path → path."""
    if dest.is_file:
        return {"": dest.path} if dest.path.is_file() else {}
    if not dest.path.is_dir():
        return {}
    found = {}
    for root, _, files in os.walk(dest.path):
        for name in files:
            full = Path(root, name)
            if not full.is_symlink():  # the manifest lists regular files; links come back with the archive
                found[full.relative_to(dest.path).as_posix()] = full
    return found


def changes(dests: list[Destination]) -> dict[str, list[str]]:
    """What a restore would change: files added, replaced (content differs) and removed."""
    added, replaced, removed = [], [], []
    for dest in dests:
        expected, present = dest.expected, present_files(dest)
        shown = {rel: str(dest.path / rel) if rel else str(dest.path) for rel in {*expected, *present}}
        added += [shown[r] for r in sorted(set(expected) - set(present))]
        removed += [shown[r] for r in sorted(set(present) - set(expected))]
        for rel in sorted(set(expected) & set(present)):
            path = present[rel]
            if file_sha256(path) != expected[rel]:
                replaced.append(shown[rel])
    return {"added": added, "replaced": replaced, "removed": removed}


# --- checksums first -----------------------------------------------------------------------------


def check_copy(opener: Opener, part: dict) -> None:
    """The stored copy is the one the manifest describes (size and SHA-256), or DamagedCopy."""
    with opener(part["file"]) as raw:
        size, sha = pipeline.sha256_stream(raw)
    if size != part["size"] or sha != part["sha256"]:
        raise DamagedCopy(f"{part['file']}: SHA-256 differs from the manifest; refusing to restore it")


def check_key(stored: dict) -> None:
    """An encrypted copy needs its age identity (``--identity`` or BACKUP_AGE_IDENTITY_FILE): refuse
    before anything is written, naming the key."""
    try:
        crypto.check_key(stored)
    except crypto.AgeKeyError as exc:
        raise MissingKey(f"{stored['file']}: {exc}") from None


Chosen = tuple[str, Opener, dict]  # tier, opener, the part as that tier stores it


def choose_copies(parts: list[dict], copies: list[tuple[str, Opener]]) -> dict[str, Chosen]:
    """For every part, the first copy (local first) that passes its checksum, and that copy's part."""
    chosen: dict[str, Chosen] = {}
    for part in parts:
        errors = []
        for tier, opener in copies:
            stored = mf.part_for_tier(part, tier)
            try:
                check_copy(opener, stored)
            except (DamagedCopy, StorageError, OSError) as exc:
                errors.append(f"{tier}: {exc}")
                continue
            chosen[part["file"]] = (tier, opener, stored)
            break
        else:
            raise RestoreError(f"no intact copy of {part['file']}: " + ("; ".join(errors) or "no stored copy"))
    return chosen


# --- extraction ----------------------------------------------------------------------------------


def _route(name: str, dests: list[Destination]) -> tuple[Destination, str] | None:
    for dest in dests:
        rel = _relative(name, dest.prefix)
        if rel is not None:
            return dest, rel
    return None


def _refuse(member: tarfile.TarInfo, why: str) -> RestoreError:
    return RestoreError(f"archive member {member.name!r} refused: {why}")


def _safe_rel(member: tarfile.TarInfo, rel: str) -> None:
    """Refuse links that point outside the destination and special files."""
    if member.issym() or member.islnk():
        link = member.linkname
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(rel), link)) if member.issym() else link
        if link.startswith("/") or resolved == ".." or resolved.startswith("../"):
            raise _refuse(member, f"a link to {link!r}, outside the destination")
    elif not (member.isreg() or member.isdir()):
        raise _refuse(member, "not a regular file, folder or link")


def _inside(staging: Path, rel: str, member: tarfile.TarInfo) -> Path:
    """``staging / rel``, refused when a link already extracted would take it outside ``staging``."""
    if not rel:
        return staging
    out = staging / rel
    parent, root = Path(os.path.realpath(out.parent)), Path(os.path.realpath(staging))
    if parent != root and root not in parent.parents:
        raise _refuse(member, "it leads through a link outside the destination")
    return out


def _write_member(tar, member, staging: Path, rel: str, dest: Destination, reporter) -> None:
    out = _inside(staging, rel, member)
    if member.isdir():
        out.mkdir(parents=True, exist_ok=True)
        os.chmod(out, (member.mode & 0o777) | 0o700)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    if member.issym():
        pointed = Path(os.path.realpath(os.path.join(os.path.realpath(out.parent), member.linkname)))
        root = Path(os.path.realpath(staging))
        if pointed != root and root not in pointed.parents:
            raise _refuse(member, f"a link to {member.linkname!r}, outside the destination")
        os.symlink(member.linkname, out)
        return
    if member.islnk():
        os.link(_hardlink_source(member, dest, staging), out)
        return
    sha = _copy_out(tar.extractfile(member), out, reporter)
    expected = dest.expected.get(rel)
    if expected is not None and sha != expected:
        raise RestoreError(f"{member.name}: SHA-256 differs from the manifest's")
    os.chmod(out, member.mode & 0o777)
    os.utime(out, (member.mtime, member.mtime))


def _hardlink_source(member: tarfile.TarInfo, dest: Destination, staging: Path) -> Path:
    source = _relative(member.linkname, dest.prefix)
    if not source or source.startswith("/") or ".." in source.split("/"):
        raise _refuse(member, f"a link to {member.linkname!r}, outside the destination")
    return _inside(staging, source, member)


def _copy_out(src, out: Path, reporter) -> str:
    sha = hashlib.sha256()
    with open(out, "wb") as fh:
        while chunk := src.read(pipeline.CHUNK):
            sha.update(chunk)
            fh.write(chunk)
            reporter.add(len(chunk))
        fh.flush()
        os.fsync(fh.fileno())
    return sha.hexdigest()


def extract_part(
    opener: Opener, part: dict, dests: list[Destination], tag: str, reporter, stored: dict | None = None
) -> None:
    """Extract one part's members into the staging places of its destinations, reading ``stored``
    (the part as the chosen tier stores it: decrypted as it is read when encrypted)."""
    stored = stored or part
    reporter.start(f"extract {part['part']}", part.get("uncompressed_size", 0))
    mine = [d for d in dests if d.part is part]
    for dest in mine:
        if not dest.is_file:
            dest.staging(tag).mkdir(parents=True)
    with opener(stored["file"]) as raw, crypto.plain(raw, stored) as plain:
        reader = pipeline.codec(part["compression"]).reader(plain)
        try:
            if part["format"] != "tar":
                return _write_single(reader, mine[0], tag, reporter)
            with tarfile.open(fileobj=reader, mode="r|") as tar:
                for member in tar:
                    _extract_member(tar, member, mine, tag, reporter)
        except (*pipeline.DECODE_ERRORS, tarfile.TarError, crypto.DecryptFailed) as exc:
            raise DamagedCopy(f"{part['file']}: does not decompress ({exc})") from None
    for dest in mine:
        if not os.path.lexists(dest.staging(tag)):
            raise RestoreError(f"{part['file']}: holds nothing for {dest.path}")


def _extract_member(tar, member, dests: list[Destination], tag: str, reporter) -> None:
    if member.name.startswith("/") or ".." in member.name.split("/"):
        raise _refuse(member, "its path leaves the destination")
    routed = _route(member.name, dests)
    if routed is None:
        return
    dest, rel = routed
    _safe_rel(member, rel)
    if dest.is_file and (rel or not member.isreg()):
        raise _refuse(member, f"{dest.path} is a file in this backup")
    _write_member(tar, member, dest.staging(tag), rel, dest, reporter)


def _write_single(reader, dest: Destination, tag: str, reporter) -> None:
    dest.path.parent.mkdir(parents=True, exist_ok=True)
    sha = _copy_out(reader, dest.staging(tag), reporter)
    if sha != dest.part["uncompressed_sha256"]:
        raise RestoreError(f"{dest.part['file']}: decompresses to other bytes than the manifest's")


# --- the swap, its verification, and undoing it --------------------------------------------------


def exchange(a: Path, b: Path) -> None:
    """Swap two paths in one step (both exist, on one volume)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"cannot swap {b} with its restored copy: {os.strerror(code)}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def journal_entries(dests: list[Destination], tag: str) -> list[dict]:
    return [{"path": str(d.path), "staging": str(d.staging(tag)), "ino": None, "existed": None} for d in dests]


def swap_in(entry: dict) -> None:
    """The staged copy takes the destination's place; the previous content moves to the staging name."""
    path, staging = Path(entry["path"]), Path(entry["staging"])
    if entry["existed"]:
        exchange(staging, path)
    else:
        os.rename(staging, path)
    pipeline.fsync_dir(path.parent)


def rollback(entry: dict) -> str:
    """Undo one destination, whatever step it reached: the previous content back in place and
    nothing extracted left anywhere. Returns what was done."""
    path, staging = Path(entry["path"]), Path(entry["staging"])
    swapped = entry.get("ino") is not None and os.path.lexists(path) and os.lstat(path).st_ino == entry["ino"]
    if swapped and entry["existed"] and os.path.lexists(staging):
        exchange(staging, path)
        done = f"{path}: previous content put back"
    elif swapped:
        os.rename(path, staging)
        done = f"{path}: restored copy removed (there was nothing before)"
    else:
        done = f"{path}: untouched"
    _remove(staging)
    return done


def verify_live(dest: Destination) -> None:
    """The destination now holds exactly the manifest's files, each with its SHA-256."""
    expected, present = dest.expected, present_files(dest)
    missing = sorted(set(expected) - set(present))
    wrong = sorted(rel for rel in set(expected) & set(present) if file_sha256(present[rel]) != expected[rel])
    if missing or wrong:
        sample = ", ".join((missing + wrong)[:3])
        raise RestoreError(
            f"{dest.path}: {len(missing)} file(s) missing, {len(wrong)} differ after the swap ({sample})"
        )


def _disk_full(exc: OSError, dests: list[Destination]) -> RestoreError:
    where = ", ".join(str(d.path.parent) for d in dests[:2])
    return RestoreError(f"disk full while extracting beside {where} ({exc.strerror}); nothing was changed")


@dataclass
class FileRestore:
    """One restore of a backup's file parts, step by step (``run`` does them all)."""

    manifest: dict
    dests: list[Destination]
    tag: str
    journal: Journal
    reporter: pipeline.Reporter

    def run(self, copies: list[tuple[str, Opener]]) -> dict:
        parts = [p for p in file_parts(self.manifest) if any(d.part is p for d in self.dests)]
        chosen = choose_copies(parts, copies)  # nothing touched yet
        for _, _, stored in chosen.values():
            check_key(stored)
        entries = journal_entries(self.dests, self.tag)
        self.journal(entries)
        try:
            self._extract(parts, chosen)
            self._stage(entries)
            for entry in entries:
                swap_in(entry)
            for dest in self.dests:
                verify_live(dest)
        except BaseException as exc:
            undone = [rollback(entry) for entry in entries]
            self.journal([])
            if isinstance(exc, OSError) and exc.errno in DISK_FULL:
                raise _disk_full(exc, self.dests) from None
            if isinstance(exc, RestoreError):
                raise type(exc)(f"{exc}; {'; '.join(undone)}") from None
            raise
        for entry in entries:
            _remove(Path(entry["staging"]))  # the previous content, no longer needed
        self.journal([])
        return {"tiers": sorted({tier for tier, _, _ in chosen.values()}), "files": self._count()}

    def _extract(self, parts: list[dict], chosen: dict[str, Chosen]) -> None:
        for part in parts:
            _, opener, stored = chosen[part["file"]]
            extract_part(opener, part, self.dests, self.tag, self.reporter, stored)

    def _stage(self, entries: list[dict]) -> None:
        """Record what is about to swap: each staged copy's inode, and whether a destination existed."""
        for entry in entries:
            entry["ino"] = os.lstat(entry["staging"]).st_ino
            entry["existed"] = os.path.lexists(entry["path"])
        self.journal(entries)

    def _count(self) -> int:
        return sum(len(d.expected) for d in self.dests)

"""Encryption at rest with age (https://age-encryption.org), through its Python binding ``pyrage``.

A tier with recipients (``BACKUP_AGE_RECIPIENTS_<TIER>``, else ``BACKUP_AGE_RECIPIENTS``: public keys,
``age1…`` or ``ssh-ed25519 …``) stores every file of a backup encrypted to them: the compressed file
goes through ``age`` on its way to the tier, streamed 64 KiB at a time, so memory stays bounded
whatever the size. The stored file is a plain age file (``FILE.age``): ``age -d -i key.txt FILE.age |
zstd -dc | pg_restore …`` restores it without this platform.

Reading needs an identity (a private key) from ``BACKUP_AGE_IDENTITY_FILE`` (an age identity file,
one ``AGE-SECRET-KEY-1…`` a line; during a key rotation it holds the old and the new key). The
manifest names the recipients a copy was encrypted to, never a key: before a byte is read, the
identities are matched against them, so a wrong key is a clear error before anything is written.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pyrage
from django.conf import settings
from pyrage import ssh, x25519

from .. import pipeline

SCHEME = "age"
SUFFIX = ".age"


class AgeKeyError(Exception):
    """No configured identity can decrypt a copy, or the recipients are not age public keys."""


class DecryptFailed(Exception):
    """The stored bytes do not decrypt: damaged, truncated, or not encrypted to the key given."""


def fingerprint(recipient: str) -> str:
    """A short, stable name for a recipient (age has none of its own): SHA-256 of its text, 16 hex."""
    return hashlib.sha256(recipient.strip().encode()).hexdigest()[:16]


def _parse_recipient(text: str):
    text = text.strip()
    if text.upper().startswith("AGE-SECRET-KEY-"):
        raise AgeKeyError("not an age recipient: a private key where a public one (age1…) belongs")
    try:
        if text.startswith("age1"):
            return x25519.Recipient.from_str(text)
        if text.startswith("ssh-"):
            return ssh.Recipient.from_str(text)
    except Exception as exc:  # pyrage.RecipientError, ValueError: a malformed key
        raise AgeKeyError(f"not an age recipient: {text[:12]}… ({exc})") from None
    raise AgeKeyError(f"not an age recipient (age1… or ssh-…): {text[:12]}…")


def recipients_for(tier: str) -> list[str]:
    """The public keys a tier's copies are encrypted to (empty: stored as is)."""
    per_tier = getattr(settings, "BACKUP_AGE_RECIPIENTS_BY_TIER", {}) or {}
    chosen = per_tier.get(tier)
    if chosen is None:
        chosen = getattr(settings, "BACKUP_AGE_RECIPIENTS", []) or []
    return sorted({r.strip() for r in chosen if r.strip()})


def describe(recipients: list[str]) -> dict:
    """What the manifest records about a copy's encryption: the public recipients and their fingerprints."""
    return {"scheme": SCHEME, "recipients": [{"recipient": r, "fingerprint": fingerprint(r)} for r in recipients]}


_identity_file: contextvars.ContextVar[str] = contextvars.ContextVar("age_identity_file", default="")


@contextlib.contextmanager
def identity_file(path: str | Path | None) -> Iterator[None]:
    """Read with the identities of ``path`` instead of ``BACKUP_AGE_IDENTITY_FILE`` meanwhile
    (``backup verify --identity``, ``backup restore --identity``: an old key after a rotation)."""
    token = _identity_file.set(str(path) if path else "")
    try:
        yield
    finally:
        _identity_file.reset(token)


def _identity_path(path: str | Path | None) -> str:
    return str(path or _identity_file.get() or getattr(settings, "BACKUP_AGE_IDENTITY_FILE", "") or "")


@dataclass(frozen=True)
class Identity:
    key: object  # a pyrage identity
    recipient: str  # its public key (age1…)


def identities(path: str | Path | None = None) -> list[Identity]:
    """The identities of ``path`` (default ``BACKUP_AGE_IDENTITY_FILE``): ``AGE-SECRET-KEY-1…`` lines,
    ``#`` comments and blank lines as written by ``age-keygen``."""
    path = _identity_path(path)
    if not path:
        return []
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise AgeKeyError(f"cannot read the age identity file {path}: {exc.strerror}") from None
    found = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            key = x25519.Identity.from_str(line)
        except Exception:
            raise AgeKeyError(f"{path}: a line is not an age identity (AGE-SECRET-KEY-1…)") from None
        found.append(Identity(key, str(key.to_public())))
    return found


def needed(encryption: dict) -> str:
    """Which key a copy needs, in words."""
    names = [f"{r['recipient']} (fingerprint {r['fingerprint']})" for r in encryption.get("recipients", [])]
    return "the age key of " + (" or ".join(names) if names else "an unrecorded recipient")


def matching(encryption: dict, available: list[Identity]) -> list[Identity]:
    wanted = {r["recipient"] for r in encryption.get("recipients", [])}
    return [i for i in available if i.recipient in wanted]


def key_for(encryption: dict, path: str | Path | None = None) -> list[Identity]:
    """The identities that open a copy, or a clear error saying which key it needs."""
    available = identities(path)
    found = matching(encryption, available)
    if found:
        return found
    where = _identity_path(path)
    has = ", ".join(i.recipient for i in available) or "no key"
    source = f"{where} holds {has}" if where else "BACKUP_AGE_IDENTITY_FILE is not set"
    raise AgeKeyError(f"encrypted with age: needs {needed(encryption)}; {source}")


def key_status(encryption: dict | None, path: str | Path | None = None) -> dict | None:
    """For ``verify``: the recipients of a copy and whether a configured identity opens it."""
    if not encryption:
        return None
    try:
        available = identities(path)
    except AgeKeyError as exc:
        return encryption | {"needs": needed(encryption), "key_available": False, "detail": str(exc)}
    found = matching(encryption, available)
    return encryption | {
        "needs": needed(encryption),
        "key_available": bool(found),
        "key": found[0].recipient if found else None,
    }


# --- writing ---------------------------------------------------------------------------------------


def encrypt_file(src: Path, dest: Path, recipients: list[str], *, tmp_dir: Path, expect_sha256: str = "") -> dict:
    """Encrypt ``src`` to ``recipients`` into ``dest`` (atomic, fsynced), streamed. Checks on the way
    that ``src`` is still the file the manifest describes (``expect_sha256``). Returns the stored
    file's ``{file, size, sha256}``."""
    parsed = [_parse_recipient(r) for r in recipients]
    with open(src, "rb") as fh, pipeline.atomic_file(dest, tmp_dir=tmp_dir) as out:
        source = pipeline.HashingReader(fh)
        stored = pipeline.HashingWriter(out)
        pyrage.encrypt_io(_Buffered(source), stored, parsed)
        if expect_sha256 and source.sha.hexdigest() != expect_sha256:
            raise DecryptFailed(f"{src.name} changed before it was encrypted")
    return {"file": dest.name, "size": stored.size, "sha256": stored.sha.hexdigest()}


class _Buffered:
    """Reads of one chunk: pyrage asks for 8 KiB at a time, and every call crosses into Python."""

    def __init__(self, inner):
        self.inner, self.buf = inner, b""

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            return self.buf + self.inner.read()
        if not self.buf:
            self.buf = self.inner.read(max(n, pipeline.CHUNK))
        data, self.buf = self.buf[:n], self.buf[n:]
        return data


# --- reading ---------------------------------------------------------------------------------------


class Decrypting:
    """A readable of the plaintext of an age file read from ``raw``: pyrage decrypts in a thread of
    its own into a pipe, 64 KiB chunk by chunk (each authenticated before it is released; a
    truncated file fails at its end). A failure is raised by the read that meets it."""

    def __init__(self, raw: BinaryIO, keys: list[Identity]):
        read_fd, write_fd = os.pipe()
        self._out = os.fdopen(read_fd, "rb", buffering=pipeline.CHUNK)
        self._in = os.fdopen(write_fd, "wb", buffering=0)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(raw, keys), name="age-decrypt", daemon=True)
        self._thread.start()

    def _run(self, raw: BinaryIO, keys: list[Identity]) -> None:
        try:
            pyrage.decrypt_io(_Buffered(raw), self._in, [k.key for k in keys])
        except BaseException as exc:  # raised again in the reading thread
            self.error = exc
        finally:
            with contextlib.suppress(OSError):
                self._in.close()

    def read(self, n: int = -1) -> bytes:
        data = self._out.read(n)
        if not data or (n < 0):
            self._thread.join()
            if self.error is not None and not isinstance(self.error, BrokenPipeError):
                raise DecryptFailed(f"does not decrypt: {self.error}") from None
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._out.close()  # a writer still inside decrypt_io gets EPIPE and stops
        self._thread.join(timeout=30)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@contextlib.contextmanager
def plain(raw: BinaryIO, part: dict, identity_file: str | Path | None = None) -> Iterator[BinaryIO]:
    """The compressed stream of a stored part: ``raw`` itself, or its decryption when the part is
    encrypted (a missing key is raised here, before anything is read). ``raw`` stays open."""
    encryption = part.get("encryption")
    if not encryption:
        yield raw
        return
    decrypting = Decrypting(raw, key_for(encryption, identity_file))
    try:
        yield decrypting  # type: ignore[misc]
    finally:
        decrypting.close()


def check_key(part: dict, identity_file: str | Path | None = None) -> None:
    """Raise ``AgeKeyError`` unless a configured identity opens this part (nothing is read)."""
    if part.get("encryption"):
        key_for(part["encryption"], identity_file)

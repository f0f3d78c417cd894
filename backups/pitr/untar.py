"""A stored tar part of a base backup laid out in one pass: this process reads the stored bytes once,
hashing them (and decrypting an age copy) on the way, and writes them into the stock ``zstd -dc``
(``gzip -dc``) piped into ``tar -x``, which decompress and write the files on other cores. The
SHA-256 is known when the last byte has gone through: a copy that differs from its manifest, or
that the binaries reject, is a ``DamagedCopy`` and the caller removes what was written and takes
the next tier's. Without those binaries, the same pass runs in Python (zstandard into ``tarfile``).

No file is fsynced here: PostgreSQL fsyncs the whole data directory before it replays a base
backup (``recovery_init_sync_method``), and nothing is reported restored before it has."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from .. import pipeline
from ..restore import DamagedCopy
from ..storage import crypto

DECOMPRESSORS = {"zstd": ["zstd", "-dcq"], "gzip": ["gzip", "-dc"]}
# -p: the archive's modes (0700/0600), not the umask's; owners are set by the restore afterwards.
TAR = ["tar", "-x", "-p", "--no-same-owner", "-f", "-", "-C"]


def binaries_for(compression: str) -> bool:
    return compression in DECOMPRESSORS and all(shutil.which(b) for b in (DECOMPRESSORS[compression][0], "tar"))


def extract(opener: Callable[[str], BinaryIO], part: dict, dest: Path) -> None:
    """Lay out one stored tar ``part`` into ``dest``, its stored bytes checked against the manifest."""
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    crypto.check_key(part)  # a wrong key stops here, before anything is written
    with opener(part["file"]) as raw:
        hashed = pipeline.HashingReader(raw)
        try:
            with crypto.plain(hashed, part) as plain:
                if binaries_for(part["compression"]):
                    _through_binaries(plain, part["compression"], dest)
                else:
                    _through_python(plain, part["compression"], dest)
        except (*pipeline.DECODE_ERRORS, crypto.DecryptFailed, tarfile.TarError, PipeFailed) as exc:
            raise DamagedCopy(f"{part['file']}: does not decompress ({exc})") from None
    if hashed.sha.hexdigest() != part["sha256"]:
        raise DamagedCopy(f"{part['file']}: SHA-256 differs from the manifest")


class PipeFailed(Exception):
    """``zstd`` or ``tar`` exited non-zero (or stopped reading): the stream is not a whole archive."""


def _through_binaries(plain: BinaryIO, compression: str, dest: Path) -> None:
    with tempfile.TemporaryFile() as unzip_err, tempfile.TemporaryFile() as tar_err:
        unzip = subprocess.Popen(
            DECOMPRESSORS[compression], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=unzip_err
        )
        tar = subprocess.Popen([*TAR, str(dest)], stdin=unzip.stdout, stdout=subprocess.DEVNULL, stderr=tar_err)
        unzip.stdout.close()  # tar holds the read end: zstd sees it go if tar stops
        try:
            _feed(plain, unzip.stdin)
        finally:
            _close(unzip.stdin)
            failed = [(proc, err) for proc, err in ((unzip, unzip_err), (tar, tar_err)) if proc.wait() != 0]
        if failed:
            proc, err = failed[0]
            err.seek(0)
            lines = err.read().decode(errors="replace").strip().splitlines()
            raise PipeFailed(f"{proc.args[0]} exited {proc.returncode}: {lines[-1] if lines else 'no message'}")


def _feed(plain: BinaryIO, sink: BinaryIO) -> None:
    """Every byte into the decompressor; the rest is still read (and hashed) if it stopped taking."""
    while chunk := plain.read(pipeline.CHUNK):
        try:
            sink.write(chunk)
        except BrokenPipeError:  # its exit status says why
            while plain.read(pipeline.CHUNK):
                pass
            return


def _close(sink: BinaryIO) -> None:
    try:
        sink.close()
    except BrokenPipeError:
        pass


def _through_python(plain: BinaryIO, compression: str, dest: Path) -> None:
    reader = pipeline.codec(compression).reader(plain)
    with tarfile.open(fileobj=reader, mode="r|") as tar:
        tar.extractall(dest, filter="tar")
    while plain.read(pipeline.CHUNK):  # the rest: the hash covers the whole file
        pass

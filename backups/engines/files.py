"""File engines: configuration (files and directories plus a redacted settings snapshot) and media,
each streamed as one tar through the pipeline, recording every file's size and SHA-256."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import stat
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from .. import pipeline, targets
from .base import BackupFailed, Context, Engine, register

SECRET_NAME = re.compile(
    r"SECRET|PASSWORD|PASSWD|TOKEN|API_KEY|ACCESS_KEY|PRIVATE|CREDENTIAL|WEBHOOK|ROUTING_KEY|DSN", re.I
)
URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")
REDACTED = "***"


def redact(name: str, value):
    """Every secret redacted: by name (…SECRET…, …TOKEN…, …PASSWORD…, webhooks) and passwords in URLs."""
    if isinstance(value, dict):
        return {k: redact(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(name, v) for v in value]
    if SECRET_NAME.search(name) and value not in ("", None):
        return REDACTED
    if isinstance(value, str):
        return URL_PASSWORD.sub(rf"\g<1>{REDACTED}@", value)
    if isinstance(value, bool | int | float) or value is None:
        return value
    return str(value)


def settings_snapshot() -> dict:
    return {name: redact(name, getattr(settings, name)) for name in dir(settings) if name.isupper()}


def walk(root: Path) -> Iterator[Path]:
    """``root`` and everything under it, sorted, without following symbolic links."""
    yield root
    if root.is_dir() and not root.is_symlink():
        for entry in sorted(os.scandir(root), key=lambda e: e.name):
            yield from walk(Path(entry.path))


def total_size(roots: list[tuple[Path, str]]) -> int:
    total = 0
    for root, _ in roots:
        for path in walk(root):
            try:
                st = path.lstat()
            except FileNotFoundError:
                continue
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
    return total


def write_tar(ctx: Context, dest: Path, roots: list[tuple[Path, str]], extra: dict[str, bytes], part: str) -> dict:
    """Tar ``roots`` (path, name inside the archive) plus in-memory ``extra`` files into ``dest``."""
    files: list[dict] = []
    ctx.reporter.start(part, total_size(roots))
    with (
        pipeline.store(dest, tmp_dir=ctx.workdir, compression=ctx.compression, level=ctx.level) as writer,
        tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar,
    ):
        for arcname, data in extra.items():
            info = tarfile.TarInfo(arcname)
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o600
            tar.addfile(info, io.BytesIO(data))
            files.append({"path": arcname, "size": len(data), "sha256": _sha(data)})
        for root, prefix in roots:
            for path in walk(root):
                rel = path.relative_to(root)
                arcname = prefix if str(rel) == "." else f"{prefix}/{rel.as_posix()}"
                try:
                    info = tar.gettarinfo(str(path), arcname)
                except FileNotFoundError:
                    continue  # removed while we walked
                if info is None or not (info.isreg() or info.isdir() or info.issym()):
                    continue  # sockets, fifos, devices
                if info.isreg():
                    with open(path, "rb") as fh:
                        reader = _CountingReader(pipeline.HashingReader(fh), ctx.reporter)
                        tar.addfile(info, reader)
                    files.append({"path": arcname, "size": info.size, "sha256": reader.inner.sha.hexdigest()})
                else:
                    tar.addfile(info)
    stored = writer.result
    return stored.describe() | {"part": part, "format": "tar", "compression": ctx.compression, "files": files}


class _CountingReader:
    def __init__(self, inner, reporter):
        self.inner, self.reporter = inner, reporter

    def read(self, n=-1):
        data = self.inner.read(n)
        self.reporter.add(len(data))
        return data


def _sha(data: bytes) -> str:

    return hashlib.sha256(data).hexdigest()


@register
class ConfigEngine(Engine):
    name = "config"

    def run(self, ctx: Context) -> list[dict]:
        ctx.took_snapshot(timezone.now())
        roots = []
        for path in targets.config_paths():
            if not path.exists():
                raise BackupFailed(f"CONFIG_PATHS: {path} does not exist")
            roots.append((path, "config/" + path.resolve().as_posix().lstrip("/")))
        snapshot = json.dumps(settings_snapshot(), indent=2, sort_keys=True, default=str).encode()
        dest = ctx.outdir / f"{ctx.stem}.config.tar{ctx.suffix()}"
        return [write_tar(ctx, dest, roots, {"settings.json": snapshot}, "config")]


@register
class MediaEngine(Engine):
    name = "media"

    def run(self, ctx: Context) -> list[dict]:
        root = targets.media_dir()
        root.mkdir(parents=True, exist_ok=True)
        ctx.took_snapshot(timezone.now())
        ctx.info.setdefault("media_dir", str(root))
        dest = ctx.outdir / f"{ctx.stem}.media.tar{ctx.suffix()}"
        return [write_tar(ctx, dest, [(root, "media")], {}, "media")]

"""The physical base backup of the PITR target: ``pg_basebackup`` as tar files (the data directory
and the WAL it needs to be consistent), each compressed and hashed through the pipeline, plus
PostgreSQL's own ``backup_manifest``. With the WAL the receiver ships, it restores to any moment
after it finished."""

from __future__ import annotations

import json
import subprocess

from django.utils import timezone

from .. import pipeline
from ..pitr import configured
from ..pitr.server import lsn_to_int, pg_bin, segment_name, source_url, tool_env
from .base import BackupFailed, Context, Engine, register

FORMAT = "pg_basebackup-tar"


@register
class BaseBackupEngine(Engine):
    name = "basebackup"

    def run(self, ctx: Context) -> list[dict]:
        if not configured():
            raise BackupFailed("continuous archiving is off: set PITR_DATABASE_URL")
        out = ctx.workdir / "pg_basebackup"
        url, env = tool_env(source_url())
        argv = [pg_bin("pg_basebackup"), "-d", url, "-D", str(out), "-Ft", "-X", "stream", "--checkpoint=fast"]
        ctx.reporter.start("pg_basebackup")
        try:
            proc = subprocess.run(argv, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        except FileNotFoundError:
            raise BackupFailed("pg_basebackup is not installed") from None
        if proc.returncode != 0:
            lines = proc.stderr.strip().splitlines()
            raise BackupFailed(f"pg_basebackup exited {proc.returncode}: {lines[-1] if lines else 'no output'}")
        ctx.took_snapshot(timezone.now())  # consistent at the backup's end, which is before this moment
        ctx.info["pitr"] = _wal_range(out / "backup_manifest")
        parts = []
        for name, part in (("base.tar", "base"), ("pg_wal.tar", "pg_wal"), ("backup_manifest", "backup_manifest")):
            src = out / name
            dest = ctx.outdir / f"{ctx.stem}.{name}{ctx.suffix()}"
            stored = pipeline.store_file(
                src, dest, tmp_dir=ctx.workdir, compression=ctx.compression, level=ctx.level, reporter=ctx.reporter
            )
            fmt = FORMAT if name.endswith(".tar") else "pg_backup_manifest"
            parts.append(stored.describe() | {"part": part, "format": fmt, "compression": ctx.compression})
        return parts


def _wal_range(path) -> dict:
    """Timeline, start and end LSN, and the first WAL segment the backup needs, from backup_manifest."""
    try:
        ranges = json.loads(path.read_text())["WAL-Ranges"]
    except (OSError, ValueError, KeyError) as exc:
        raise BackupFailed(f"pg_basebackup wrote no usable backup_manifest: {exc}") from None
    first, last = ranges[0], ranges[-1]
    timeline, start = int(first["Timeline"]), lsn_to_int(first["Start-LSN"])
    return {
        "timeline": timeline,
        "start_lsn": first["Start-LSN"],
        "end_lsn": last["End-LSN"],
        "start_segment": segment_name(timeline, start),
    }

"""User sessions: a snapshot of the protected Redis (``TARGET_REDIS_URL``) taken with
``redis-cli --rdb`` (the server's own RDB, sent over the replication protocol), compressed, and its
keys per database counted by loading it into a scratch ``redis-server``: the manifest says what the
snapshot holds, and verification compares a restored copy with it."""

from __future__ import annotations

import os
import shutil
from urllib.parse import unquote, urlsplit, urlunsplit

from django.conf import settings
from django.utils import timezone

from .. import pipeline, targets
from ..scratch_redis import ScratchRedisError, key_counts, scratch_server
from .base import BackupFailed, Context, Engine, register, run_checked


def redis_cli_argv(url: str) -> tuple[list[str], dict]:
    """redis-cli's arguments for ``url``; the password goes in ``REDISCLI_AUTH``, never argv."""
    parts = urlsplit(url)
    env = dict(os.environ)
    if parts.password is not None:
        env["REDISCLI_AUTH"] = unquote(parts.password)
        host = parts.netloc.rsplit("@", 1)[1]
        user = f"{parts.username}@" if parts.username else ""
        url = urlunsplit(parts._replace(netloc=user + host))
    cli = shutil.which("redis-cli")
    if not cli:
        raise BackupFailed("redis-cli is not installed (Debian: redis-tools)")
    return [cli, "-u", url, "--no-auth-warning"], env


@register
class SessionsEngine(Engine):
    name = "sessions"

    def run(self, ctx: Context) -> list[dict]:
        url = settings.TARGET_REDIS_URL
        if not url:
            raise BackupFailed("TARGET_REDIS_URL is not set: there is no session store to back up")
        argv, env = redis_cli_argv(url)
        rdb = ctx.workdir / "dump.rdb"
        ctx.took_snapshot(timezone.now())
        run_checked(
            [*argv, "--rdb", str(rdb)], env=env, output=rdb, ctx=ctx, phase="sessions", expected=0, to_stdout=False
        )
        try:
            with scratch_server(rdb) as scratch:
                keys = key_counts(scratch)
        except ScratchRedisError as exc:
            raise BackupFailed(f"the snapshot does not load: {exc}") from None
        dest = ctx.outdir / f"{ctx.stem}.sessions.rdb{ctx.suffix()}"
        stored = pipeline.store_file(
            rdb, dest, tmp_dir=ctx.workdir, compression=ctx.compression, level=ctx.level, reporter=ctx.reporter
        )
        ctx.info.setdefault("redis", targets.redact_url(url))
        return [
            stored.describe()
            | {"part": "sessions", "format": "redis-rdb", "compression": ctx.compression, "keys": keys}
        ]

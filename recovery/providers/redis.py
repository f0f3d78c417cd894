"""The cache Redis: health, and flushing one database (the target's, or a scratch one for drills)."""

from __future__ import annotations

import time
from urllib.parse import urlsplit, urlunsplit

import redis as redis_lib
from django.conf import settings

from pitchey_incidents.targets import target_redis_url

from .base import Outcome, Provider, register


def _client(url: str, db: int | None) -> redis_lib.Redis:
    if db is not None:  # the URL's own /N would win over a db= keyword, so replace it in the URL
        url = urlunsplit(urlsplit(url)._replace(path=f"/{int(db)}"))
    return redis_lib.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)


@register
class Redis(Provider):
    name = "redis"
    label = "Redis"
    idempotent = frozenset({"health", "flush", "scratch_cycle"})

    def available(self):
        return (True, "") if target_redis_url() else (False, "set TARGET_REDIS_URL")

    def do_health(self, *, dry_run: bool, db: int | None = None) -> Outcome:
        started = time.monotonic()
        try:
            client = _client(target_redis_url(), db)
            client.ping()
            keys = client.dbsize()
        except redis_lib.RedisError as exc:
            return Outcome(False, f"redis unreachable: {exc.__class__.__name__}")
        ms = round((time.monotonic() - started) * 1000, 1)
        return Outcome(True, f"redis answers in {ms} ms, {keys} key(s)", {"keys": keys, "latency_ms": ms})

    def do_flush(self, *, dry_run: bool, db: int | None = None) -> Outcome:
        client = _client(target_redis_url(), db)
        keys = client.dbsize()
        if dry_run:
            return Outcome(True, f"would flush {keys} key(s)", {"keys": keys})
        client.flushdb()
        return Outcome(True, f"flushed {keys} key(s)", {"keys": keys})

    def do_scratch_cycle(self, *, dry_run: bool, keys: int = 100) -> Outcome:
        """Drill: fill the scratch database, flush it, check it is empty and answering again."""
        db = settings.DRILL_REDIS_DB
        if dry_run:
            return Outcome(True, f"would fill, flush and check scratch Redis db {db}")
        client = _client(target_redis_url(), db)
        client.mset({f"drill:{i}": i for i in range(keys)})
        before = client.dbsize()
        started = time.monotonic()
        client.flushdb()
        client.ping()
        after = client.dbsize()
        ms = round((time.monotonic() - started) * 1000, 1)
        ok = before >= keys and after == 0
        return Outcome(ok, f"scratch db {db}: {before} key(s) → {after} in {ms} ms", {"before": before, "after": after})

"""The cache Redis: health, and flushing one database (the target's, or a scratch one for drills)."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit, urlunsplit

import redis as redis_lib
from django.conf import settings

from pitchey_incidents.redis import connect
from pitchey_incidents.targets import target_redis_url

from .. import runcontext
from .base import Outcome, Provider, register


def _client(url: str, db: int | None) -> redis_lib.Redis:
    if db is not None:  # the URL's own /N would win over a db= keyword, so replace it in the URL
        url = urlunsplit(urlsplit(url)._replace(path=f"/{int(db)}"))
    return connect(url, 5)  # one try: a health check or flush of a Redis that does not answer fails in 5 s


@register
class Redis(Provider):
    name = "redis"
    label = "Redis"
    idempotent = frozenset({"health", "flush", "scratch_cycle", "scratch_health"})

    def available(self):
        return (True, "") if target_redis_url() else (False, "set TARGET_REDIS_URL")

    def available_app_cache(self) -> tuple[bool, str]:
        return (True, "") if settings.TARGET_REDIS_URL else (False, "set TARGET_REDIS_URL")

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
        url = target_redis_url()
        if db is not None:
            url = urlunsplit(urlsplit(url)._replace(path=f"/{int(db)}"))
        clash = ours(url, include_target=False)
        if clash:
            return Outcome(
                False, f"refused: {describe(url)} is {clash}; set TARGET_REDIS_URL to the cache's own database"
            )
        client = _client(url, None)
        keys = client.dbsize()
        if dry_run:
            return Outcome(True, f"would flush {keys} key(s)", {"keys": keys})
        client.flushdb()
        return Outcome(True, f"flushed {keys} key(s)", {"keys": keys})

    def do_flush_app(self, *, dry_run: bool) -> Outcome:
        """Flush the protected application cache (``TARGET_REDIS_URL`` only, never a fallback), refused
        when that database is our broker, result backend or pub/sub."""
        url = settings.TARGET_REDIS_URL
        if not url:
            hint = "set TARGET_REDIS_URL to the protected application cache (a Redis database of its own)"
            return Outcome(False, hint, {"missing": {"what": "application cache", "hint": hint}}, skipped=True)
        where = describe(url)
        clash = ours(url, include_target=False)
        if clash:
            return Outcome(False, f"refused: {where} is {clash}; flushing it would lose our own data", {"redis": where})
        runcontext.record("FLUSHDB", runcontext.mask_url(url), None, sent=not dry_run)
        client = _client(url, None)
        keys = client.dbsize()
        if dry_run:
            return Outcome(True, f"would flush {keys} key(s) from {where}", {"keys": keys, "redis": where})
        client.flushdb()
        return Outcome(True, f"flushed {keys} key(s) from {where}", {"keys": keys, "redis": where})

    def do_scratch_cycle(self, *, dry_run: bool, keys: int = 100) -> Outcome:
        """Drill: fill the scratch database, flush it, re-warm it from what was there, check every key
        came back. Refused when the scratch database is one we live on (broker, results, pub/sub) or the
        protected cache itself."""
        url = scratch_url()
        where = describe(url)
        clash = ours(url)
        if clash:
            why = f"refused: the scratch Redis {where} is {clash}; set DRILL_REDIS_URL or DRILL_REDIS_DB"
            return Outcome(False, why, {"scratch": where})
        if dry_run:
            return Outcome(True, f"would fill, flush and re-warm scratch Redis {where}")
        client = _client(url, None)
        warm = {f"drill:{i}": f"value-{i}" for i in range(int(keys))}
        client.mset(warm)
        filled = client.dbsize()
        started = time.monotonic()
        client.flushdb()
        flushed = client.dbsize()
        client.mset(warm)  # re-warm from the source of truth
        back = dict(zip(warm, (v.decode() if v else None for v in client.mget(list(warm))), strict=True))
        ms = round((time.monotonic() - started) * 1000, 1)
        client.flushdb()  # leave the scratch database empty
        ok = filled >= len(warm) and flushed == 0 and back == warm
        same = sum(1 for k in warm if back[k] == warm[k])
        output = f"scratch {where}: filled {filled}, flushed to {flushed}, re-warmed {same} key(s) in {ms} ms"
        return Outcome(ok, output, {"before": filled, "after": flushed, "rewarmed": len(back), "scratch": where})

    def do_scratch_health(self, *, dry_run: bool) -> Outcome:
        """The scratch database answers (the cache drill's verification)."""
        try:
            _client(scratch_url(), None).ping()
        except redis_lib.RedisError as exc:
            return Outcome(False, f"scratch redis unreachable: {exc.__class__.__name__}")
        return Outcome(True, f"scratch Redis {describe(scratch_url())} answers")


def scratch_url() -> str:
    """``DRILL_REDIS_URL``, else database ``DRILL_REDIS_DB`` of the protected cache's server."""
    if settings.DRILL_REDIS_URL:
        return settings.DRILL_REDIS_URL
    return urlunsplit(urlsplit(target_redis_url())._replace(path=f"/{settings.DRILL_REDIS_DB}"))


def address(url: str) -> tuple[str, int, int] | None:
    """(host, port, db) of a Redis URL with its defaults resolved (localhost → its address, port 6379,
    db 0); None when the URL is not Redis."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        return None
    host = parts.hostname or "localhost"
    try:
        host = socket.gethostbyname(host)
    except OSError:
        pass
    query_db = dict(p.partition("=")[::2] for p in parts.query.split("&") if p).get("db")
    path_db = parts.path.strip("/")
    db = int(path_db) if path_db.isdigit() else int(query_db) if (query_db or "").isdigit() else 0
    return host, parts.port or 6379, db


def describe(url: str) -> str:
    found = address(url)
    return f"{found[0]}:{found[1]}/{found[2]}" if found else "(not Redis)"


def ours(url: str, *, include_target: bool = True) -> str:
    """What the Redis database at ``url`` already serves, or '' when it is free (for a drill, or,
    with ``include_target=False``, for flushing as the application cache)."""
    mine = address(url)
    uses = [
        ("the Celery broker", settings.CELERY_BROKER_URL),
        ("the Celery result backend", getattr(settings, "CELERY_RESULT_BACKEND", "") or ""),
        ("the event pub/sub (REDIS_URL)", settings.REDIS_URL),
        ("the protected cache (TARGET_REDIS_URL)", settings.TARGET_REDIS_URL if include_target else ""),
    ]
    return next((name for name, other in uses if other and mine is not None and address(other) == mine), "")

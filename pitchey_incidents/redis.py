"""Our Redis clients. The ``redis`` package is imported on first use, not with this module: it costs a
process 0.07 s of CPU, which a command on the embedded defaults (no ``REDIS_URL``, the filesystem
broker) never needs (docs/backups.md, "Where the time goes")."""

from __future__ import annotations

from functools import lru_cache
from types import ModuleType
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    import redis


def is_redis(url: str) -> bool:
    """Whether ``url`` (a broker's, say) names a Redis server."""
    return url.split("://", 1)[0] in ("redis", "rediss")


def lib() -> ModuleType:
    """The ``redis`` package."""
    import redis  # here, not at the top: the cost above

    return redis


def once() -> redis.retry.Retry:
    """No retries: each command is tried once (see ``connect``)."""
    r = lib()
    return r.retry.Retry(r.backoff.NoBackoff(), 0)


def connect(url: str, timeout: float) -> redis.Redis:
    """A client of ``url`` that tries each command once, within ``timeout`` (to connect, and to
    answer). redis-py's default retries a failed connection ten times, backing off in between:
    over 4 s for a refused connection and over 20 s for a host that does not answer, spent in
    the request, probe or check that asked."""
    return lib().Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout, retry=once())


@lru_cache(maxsize=1)
def client() -> redis.Redis:
    """The app's Redis (``REDIS_URL``)."""
    return connect(settings.REDIS_URL, 2)


def ping(url: str, timeout: float) -> None:
    """PING the server at ``url`` once, within ``timeout`` and with no retries; ``ConnectionError``
    (an ``OSError``) when it does not answer."""
    conn = connect(url, timeout)
    try:
        conn.ping()
    except lib().RedisError as exc:
        raise ConnectionError(f"redis: {exc}") from exc
    finally:
        conn.close()

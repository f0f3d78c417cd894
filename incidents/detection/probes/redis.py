"""Redis: ``PING`` latency and the keyspace hit rate since the previous probe."""

from __future__ import annotations

import redis as redis_lib

from incidents.detection.models import ProbeStatus
from incidents.detection.probes.base import Outcome, ProbeCheck, Timer, register, thresholds
from pitchey_incidents.targets import target_redis_url


@register
class RedisCheck(ProbeCheck):
    kind = "redis"

    def check(self, probe, config):
        url = config.get("url") or target_redis_url()
        if not url:
            return Outcome.graded(ProbeStatus.SKIPPED, "no Redis target (set TARGET_REDIS_URL or REDIS_URL)")
        timeout = float(config.get("timeout_s", 3))
        client = redis_lib.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        try:
            with Timer() as t:
                client.ping()
            stats = client.info("stats")
        finally:
            client.close()
        hits, misses = int(stats.get("keyspace_hits", 0)), int(stats.get("keyspace_misses", 0))
        previous = probe.results.filter(status__in=[ProbeStatus.OK, ProbeStatus.DEGRADED]).first()
        prev = previous.metrics if previous else {}
        d_hits, d_misses = hits - int(prev.get("keyspace_hits", 0)), misses - int(prev.get("keyspace_misses", 0))
        if d_hits < 0 or d_misses < 0:  # Redis restarted: counters start again
            d_hits, d_misses = hits, misses
        lookups = d_hits + d_misses
        ratio = d_hits / lookups if lookups >= int(config.get("min_lookups", 100)) else None
        metrics = {"latency_ms": round(t.ms, 3), "keyspace_hits": hits, "keyspace_misses": misses}
        if ratio is not None:
            metrics["hit_ratio"] = round(ratio, 4)
        ok = thresholds(ratio, minimum=config.get("min_hit_ratio", 0.7))
        shown = f"hit rate {ratio:.0%}" if ratio is not None else f"hit rate n/a ({lookups} lookups)"
        return Outcome.graded(
            ProbeStatus.OK if ok else ProbeStatus.DEGRADED, f"PING in {t.ms:.1f} ms, {shown}", t.ms, metrics
        )

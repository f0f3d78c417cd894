"""Redis: ``PING`` latency and the keyspace hit rate since the previous probe.

Redis counts hits and misses per server, not per database: when other databases of the server hold keys
(our broker's, say) their lookups are in the rate too. The check names them (``shared_with``) and says
the rate is skewed by them; give the protected cache a server of its own for an exact rate."""

from __future__ import annotations

from incidents.detection.models import ProbeStatus
from incidents.detection.probes.base import Outcome, ProbeCheck, Timer, register, thresholds
from pitchey_incidents.redis import connect
from pitchey_incidents.targets import target_redis_url


@register
class RedisCheck(ProbeCheck):
    kind = "redis"

    def check(self, probe, config):
        url = config.get("url") or target_redis_url()
        if not url:
            return Outcome.graded(ProbeStatus.SKIPPED, "no Redis target (set TARGET_REDIS_URL or REDIS_URL)")
        timeout = float(config.get("timeout_s", 3))
        client = connect(url, timeout)  # one try: a server that does not answer is down within the timeout
        try:
            with Timer() as t:
                client.ping()
            stats = client.info("stats")
            keyspace = client.info("keyspace")
            own = int(client.connection_pool.connection_kwargs.get("db", 0))
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
        others = sorted(int(name[2:]) for name in keyspace if name.startswith("db") and int(name[2:]) != own)
        metrics |= {"db": own, "own_keys": int((keyspace.get(f"db{own}") or {}).get("keys", 0))}
        shown = f"hit rate {ratio:.0%}" if ratio is not None else f"hit rate n/a ({lookups} lookups)"
        if others:
            metrics["shared_with"] = others
            shown += f" (server-wide: skewed by db {', '.join(map(str, others))} on the same server)"
        return Outcome.graded(
            ProbeStatus.OK if ok else ProbeStatus.DEGRADED, f"PING in {t.ms:.1f} ms, {shown}", t.ms, metrics
        )

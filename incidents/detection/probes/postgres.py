"""PostgreSQL: ``SELECT 1`` latency and connections as a share of ``max_connections``."""

from __future__ import annotations

import psycopg

from incidents.detection.models import ProbeStatus
from incidents.detection.probes.base import Outcome, ProbeCheck, Timer, register, thresholds
from pitchey_incidents.targets import libpq_url, target_database_url

CONNECTIONS_SQL = "SELECT count(*), current_setting('max_connections')::int FROM pg_stat_activity"


@register
class PostgresCheck(ProbeCheck):
    kind = "postgres"

    def check(self, probe, config):
        url = config.get("url") or target_database_url()
        if not url.startswith(("postgres://", "postgresql://", "pgsql://")):
            return Outcome.graded(
                ProbeStatus.SKIPPED, "the target database is not PostgreSQL (set TARGET_DATABASE_URL)"
            )
        timeout = int(config.get("timeout_s", 3))
        with psycopg.connect(libpq_url(url), connect_timeout=timeout, autocommit=True) as conn:
            with Timer() as t:
                conn.execute("SELECT 1").fetchone()
            used, limit = conn.execute(CONNECTIONS_SQL).fetchone()
        ratio = used / limit if limit else 0.0
        metrics = {
            "latency_ms": round(t.ms, 3),
            "connections": used,
            "max_connections": limit,
            "connections_ratio": round(ratio, 4),
        }
        ok = thresholds(ratio, maximum=config.get("max_connections_ratio", 0.8)) and thresholds(
            t.ms, maximum=config.get("max_latency_ms", 1000)
        )
        detail = f"SELECT 1 in {t.ms:.1f} ms, connections {used}/{limit} ({ratio:.0%})"
        return Outcome.graded(ProbeStatus.OK if ok else ProbeStatus.DEGRADED, detail, t.ms, metrics)

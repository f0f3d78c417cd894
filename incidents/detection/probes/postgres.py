"""PostgreSQL target: ``SELECT 1`` latency, connections as a share of ``max_connections``, replication
lag (the slowest replica of a primary, or this standby's replay delay) and the longest open transaction."""

from __future__ import annotations

import psycopg

from incidents.detection.models import ProbeStatus
from incidents.detection.probes.base import Outcome, ProbeCheck, Timer, register, thresholds
from pitchey_incidents.targets import libpq_url, target_database_url

CONNECTIONS_SQL = "SELECT count(*), current_setting('max_connections')::int FROM pg_stat_activity"
REPLICATION_LAG_SQL = """
SELECT CASE WHEN pg_is_in_recovery()
            THEN extract(epoch FROM now() - pg_last_xact_replay_timestamp())
            ELSE (SELECT max(extract(epoch FROM replay_lag)) FROM pg_stat_replication) END
"""
LONGEST_TRANSACTION_SQL = """
SELECT coalesce(max(extract(epoch FROM now() - xact_start)), 0)
FROM pg_stat_activity
WHERE xact_start IS NOT NULL AND backend_type = 'client backend' AND pid <> pg_backend_pid()
"""


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
            lag = conn.execute(REPLICATION_LAG_SQL).fetchone()[0]
            longest = round(float(conn.execute(LONGEST_TRANSACTION_SQL).fetchone()[0] or 0), 1)
        ratio = used / limit if limit else 0.0
        metrics = {
            "latency_ms": round(t.ms, 3),
            "connections": used,
            "max_connections": limit,
            "connections_ratio": round(ratio, 4),
            "longest_transaction_s": longest,
        }
        if lag is not None:
            metrics["replication_lag_s"] = round(float(lag), 3)
        ok = thresholds(ratio, maximum=config.get("max_connections_ratio", 0.8)) and thresholds(
            t.ms, maximum=config.get("max_latency_ms", 1000)
        )
        detail = f"SELECT 1 in {t.ms:.1f} ms, connections {used}/{limit} ({ratio:.0%})"
        detail += f", longest transaction {longest:.0f} s" if longest >= 1 else ""
        detail += f", replication lag {float(lag):.1f} s" if lag is not None else ""
        return Outcome.graded(ProbeStatus.OK if ok else ProbeStatus.DEGRADED, detail, t.ms, metrics)

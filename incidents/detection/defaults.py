"""The runbook's checks and key-metric thresholds, seeded by a data migration (admin-editable)."""

from __future__ import annotations

# Key metrics from the runbook: error rate < 1 %, p99 < 1000 ms, DB connections < 80 % of the limit,
# cache hit rate > 70 %, auth success > 99 %.
ERROR_RATE_QUERY = 'sum(rate(http_requests_total{status=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))'
P99_QUERY = "histogram_quantile(0.99, sum(rate(http_request_duration_seconds_bucket[5m])) by (le)) * 1000"
AUTH_QUERY = 'sum(rate(auth_attempts_total{result="success"}[5m])) / sum(rate(auth_attempts_total[5m]))'

# name, label, kind, service slug, config
PROBES = [
    ("error-rate", "error rate", "prometheus", "api", {"query": ERROR_RATE_QUERY, "metric": "error_rate", "max": 0.01}),
    ("database", "database health", "postgres", "database", {"max_connections_ratio": 0.8, "max_latency_ms": 1000}),
    ("p99-latency", "API latency", "prometheus", "api", {"query": P99_QUERY, "metric": "p99_latency_ms", "max": 1000}),
    ("cache", "cache health", "redis", "cache", {"min_hit_ratio": 0.7, "min_lookups": 100}),
    (
        "auth-success",
        "auth success rate",
        "prometheus",
        "auth",
        {"query": AUTH_QUERY, "metric": "auth_success_ratio", "min": 0.99},
    ),
    # The runbook's RPO table: the newest verified backup of each data type against its RPO.
    ("database-backups", "database backups", "backup_rpo", "database", {"data_types": ["database"]}),
    ("config-backups", "configuration backups", "backup_rpo", "api", {"data_types": ["config"]}),
    ("media-backups", "media backups", "backup_rpo", "media", {"data_types": ["media"]}),
]

# name, probe kind, probe name, op, metric, threshold, severity, action, action params
RULES = [
    ("Database unreachable", "postgres", "", "down", "", None, "P0", "", {}),
    (
        "Database connections exhausted",
        "postgres",
        "",
        "gt",
        "connections_ratio",
        0.8,
        "P2",
        "terminate_idle_connections",
        {"idle_minutes": 10},
    ),
    ("Critical error rate", "prometheus", "error-rate", "gt", "error_rate", 0.5, "P1", "", {}),
    ("High error rate", "prometheus", "error-rate", "gt", "error_rate", 0.05, "P2", "", {}),
    ("Slow API responses", "prometheus", "p99-latency", "gt", "p99_latency_ms", 1000, "P2", "", {}),
    ("Authentication failures", "prometheus", "auth-success", "lt", "auth_success_ratio", 0.99, "P1", "", {}),
    ("Redis down", "redis", "", "down", "", None, "P2", "", {}),
    ("Low cache hit rate", "redis", "", "lt", "hit_ratio", 0.7, "P3", "", {}),
    ("API endpoint down", "http", "", "down", "", None, "P1", "", {}),
    ("Backups past their RPO", "backup_rpo", "", "gt", "breaches", 0, "P2", "", {}),
    # Continuous archiving of the database (docs/backups.md, "Point-in-time recovery").
    ("WAL lost: point-in-time recovery has a gap", "backup_rpo", "database-backups", "gt", "wal_gaps", 0, "P2", "", {}),
    (
        "Replication slot keeps too much WAL",
        "backup_rpo",
        "database-backups",
        "gt",
        "slot_over_warning",
        0,
        "P3",
        "",
        {},
    ),
]

# The continuous-archiving rules, seeded on their own on installs that predate them.
PITR_DETECTION = {"WAL lost: point-in-time recovery has a gap", "Replication slot keeps too much WAL"}


# The backup probes and their rule, by name: seeded on their own on installs that predate them.
BACKUP_DETECTION = {"database-backups", "config-backups", "media-backups", "Backups past their RPO"}


def seed(apps, only: set[str] | None = None) -> None:
    """Create the default probes and rules that are missing (``only``: just these names)."""
    # ``apps`` is a migration's: the catalog was the incidents app's until incidents 0007 (now recovery's).
    try:
        Service = apps.get_model("incidents", "Service")
    except LookupError:  # a migration after incidents 0007
        Service = apps.get_model("recovery", "Service")
    Probe = apps.get_model("incidents", "Probe")
    AssessmentRule = apps.get_model("incidents", "AssessmentRule")
    services = {s.slug: s for s in Service.objects.all()}
    for position, (name, label, kind, slug, config) in enumerate(PROBES, start=1):
        if slug in services and (only is None or name in only):
            Probe.objects.get_or_create(
                name=name,
                defaults={
                    "label": label,
                    "kind": kind,
                    "service": services[slug],
                    "config": config,
                    "position": position * 10,
                },
            )
    for name, kind, probe, op, metric, threshold, severity, action, params in RULES:
        if only is not None and name not in only:
            continue
        AssessmentRule.objects.get_or_create(
            name=name,
            defaults={
                "probe_kind": kind,
                "probe_name": probe,
                "op": op,
                "metric": metric,
                "threshold": threshold,
                "severity": severity,
                "action": action,
                "action_params": params,
            },
        )

"""The runbook's checks and key-metric thresholds, seeded by a data migration (admin-editable)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.apps.registry import Apps

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
    # Cloudflare Workers analytics (GraphQL), when Cloudflare is configured.
    ("workers-errors", "Worker requests", "cloudflare", "api", {"window_s": 300, "max_error_rate": 0.01}),
]


def step(action: str, **params) -> dict:
    return {"action": action, "params": params}


# The runbook's automated processes ("API Outage Recovery", "Database Failure Recovery"); each step is
# followed by a verify: the incident resolves, or the next step runs; past the last, it escalates.
API_CHAIN = [step("restart_worker"), step("rollback_deploy"), step("enable_maintenance")]
DATABASE_CHAIN = [
    step("restart_database_endpoint"),
    step("branch_from_pitr"),
    {**step("pitr_restore", to_time="latest"), "only_if_unavailable": "branch_from_pitr"},  # no Neon
]
CONNECTIONS_CHAIN = [step("terminate_idle_connections", idle_minutes=10)]
NO_CHAIN = {
    "latency": "Slowness has many causes (load, a slow query, a dependency); the runbook automates failures, "
    "not slowness: a responder decides (scaling the database is a control).",
    "auth": "Failed logins are users or an attack, not a broken deployment: redeploying or rolling back does "
    "not help; a responder looks at the source of the failures.",
    "redis": "The runbook's cache recovery (check, flush, re-warm) loses every session: a responder runs it "
    "(disaster-recovery.sh cache).",
    "hit_rate": "A low hit rate is a warning, not an outage: flushing would make it worse.",
    "backups": "A missing backup is made by the backup schedule or a responder (emergency backup control); "
    "there is nothing to mitigate on the platform.",
    "wal": "A WAL gap needs a fresh base backup and a look at archiving; a responder decides.",
    "slot": "A replication slot is dropped or its consumer fixed by a responder: dropping it automatically "
    "could break a replica.",
}

# name, probe kind, probe name, op, metric, threshold, severity, chain, settle s, why no chain
RULES = [
    ("Database unreachable", "postgres", "", "down", "", None, "P0", DATABASE_CHAIN, 60, ""),
    (
        "Database connections exhausted",
        "postgres",
        "",
        "gt",
        "connections_ratio",
        0.8,
        "P2",
        CONNECTIONS_CHAIN,
        30,
        "",
    ),
    ("Critical error rate", "prometheus", "error-rate", "gt", "error_rate", 0.5, "P1", API_CHAIN, 60, ""),
    ("High error rate", "prometheus", "error-rate", "gt", "error_rate", 0.05, "P2", API_CHAIN, 60, ""),
    (
        "Slow API responses",
        "prometheus",
        "p99-latency",
        "gt",
        "p99_latency_ms",
        1000,
        "P2",
        [],
        30,
        NO_CHAIN["latency"],
    ),
    (
        "Authentication failures",
        "prometheus",
        "auth-success",
        "lt",
        "auth_success_ratio",
        0.99,
        "P1",
        [],
        30,
        NO_CHAIN["auth"],
    ),
    ("Redis down", "redis", "", "down", "", None, "P2", [], 30, NO_CHAIN["redis"]),
    ("Low cache hit rate", "redis", "", "lt", "hit_ratio", 0.7, "P3", [], 30, NO_CHAIN["hit_rate"]),
    ("API endpoint down", "http", "", "down", "", None, "P1", API_CHAIN, 30, ""),
    ("Backups past their RPO", "backup_rpo", "", "gt", "breaches", 0, "P2", [], 30, NO_CHAIN["backups"]),
    # Continuous archiving of the database (docs/backups.md, "Point-in-time recovery").
    (
        "WAL lost: point-in-time recovery has a gap",
        "backup_rpo",
        "database-backups",
        "gt",
        "wal_gaps",
        0,
        "P2",
        [],
        30,
        NO_CHAIN["wal"],
    ),
    (
        "Replication slot keeps too much WAL",
        "backup_rpo",
        "database-backups",
        "gt",
        "slot_over_warning",
        0,
        "P3",
        [],
        30,
        NO_CHAIN["slot"],
    ),
    # Detection without Prometheus: the health endpoints' samples, Workers analytics, the database.
    ("Critical error rate (health endpoints)", "http", "", "gt", "error_rate", 0.5, "P1", API_CHAIN, 30, ""),
    ("High error rate (health endpoints)", "http", "", "gt", "error_rate", 0.05, "P2", API_CHAIN, 30, ""),
    ("Slow health endpoints", "http", "", "gt", "p99_latency_ms", 1000, "P3", [], 30, NO_CHAIN["latency"]),
    ("High Worker error rate", "cloudflare", "", "gt", "error_rate", 0.05, "P2", API_CHAIN, 60, ""),
    (
        "Long-running transaction",
        "postgres",
        "",
        "gt",
        "longest_transaction_s",
        300,
        "P3",
        [],
        30,
        "Ending a transaction loses its work; a responder decides which session to end.",
    ),
    (
        "Replica lagging",
        "postgres",
        "",
        "gt",
        "replication_lag_s",
        60,
        "P3",
        [],
        30,
        "Lag clears when the replica catches up; nothing on the primary makes it faster.",
    ),
]

# Rules added with detection without Prometheus, seeded on their own on installs that predate them.
PLATFORM_DETECTION = {
    "Critical error rate (health endpoints)",
    "High error rate (health endpoints)",
    "Slow health endpoints",
    "High Worker error rate",
    "Long-running transaction",
    "Replica lagging",
    "workers-errors",
}
# The seeded rules whose chain the data migration fills in, when nobody edited them (no action, or
# the one seeded before chains existed).
SEEDED_ACTIONS = {"Database connections exhausted": "terminate_idle_connections"}

# The continuous-archiving rules, seeded on their own on installs that predate them.
PITR_DETECTION = {"WAL lost: point-in-time recovery has a gap", "Replication slot keeps too much WAL"}


# The backup probes and their rule, by name: seeded on their own on installs that predate them.
BACKUP_DETECTION = {"database-backups", "config-backups", "media-backups", "Backups past their RPO"}


def seed(apps: Apps, only: set[str] | None = None) -> None:
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
    fields = {f.name for f in AssessmentRule._meta.get_fields()}  # an older migration's model
    for name, kind, probe, op, metric, threshold, severity, chain, settle_s, reason in RULES:
        if only is not None and name not in only:
            continue
        defaults = {
            "probe_kind": kind,
            "probe_name": probe,
            "op": op,
            "metric": metric,
            "threshold": threshold,
            "severity": severity,
        }
        if "chain" in fields:
            defaults |= {"chain": chain, "settle_s": settle_s, "no_chain_reason": reason}
        elif chain and len(chain) == 1:  # before chains: one action (connections exhausted)
            defaults |= {"action": chain[0]["action"], "action_params": chain[0]["params"]}
        AssessmentRule.objects.get_or_create(name=name, defaults=defaults)


def chains_seed(apps: Apps) -> None:
    """Before chains a rule had one ``action``: the seeded rules nobody edited get the runbook's chain
    (or the reason there is none); an edited rule keeps its action as a one-step chain. Runs while the
    old fields still exist."""
    AssessmentRule = apps.get_model("incidents", "AssessmentRule")
    seeded = {name: (chain, settle_s, reason) for name, *_, chain, settle_s, reason in RULES}
    for rule in AssessmentRule.objects.all():
        if rule.name in seeded and rule.action in ("", SEEDED_ACTIONS.get(rule.name)):
            chain, settle_s, reason = seeded[rule.name]
        elif rule.action:  # the Celery pool restart had a ``workers`` parameter; the Worker redeploy has none
            params = {} if rule.action == "restart_worker" else rule.action_params or {}
            chain, settle_s, reason = [{"action": rule.action, "params": params}], 30, ""
        else:
            chain, settle_s, reason = [], 30, "No mitigation was configured for this rule."
        AssessmentRule.objects.filter(id=rule.id).update(chain=chain, settle_s=settle_s, no_chain_reason=reason)

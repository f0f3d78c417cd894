"""The runbook's recovery plans and drill scenarios, seeded by a data migration (existing rows kept).

A step: (name, title, action, options). ``action`` is ``provider.action``; ``verify`` runs only the
step's verification probe; ``include.services`` (full plan) expands into every service plan in the
catalog's recovery order. Options: service, params, on_failure, fallback, only_as_fallback, requires,
verify_action, verify_params.
"""

from __future__ import annotations

FB, CONT = "fallback", "continue"
PG_HEALTH = {"verify_action": "postgres.health"}


def http_check(service: str) -> dict:
    return {"verify_action": "http.verify", "verify_params": {"service": service}}


def files_check(kind: str) -> dict:
    return {"verify_action": "restore.check", "verify_params": {"kind": kind}}


def intact(kind: str) -> dict:
    """A drill step's verification: the copy it restored from still matches its manifest."""
    return {"verify_action": "restore.intact", "verify_params": {"kind": kind}}


def copy_check(step: str, source: str) -> dict:
    """A failover drill's check of the copy ``step`` made: its tables and rows against ``source``'s
    (counted before and after), then a scratch consumer pointed at it."""
    uri = f"${step}.connection_uri"
    return {
        "requires": step,
        "params": {"uri": uri, "source": source, "before": f"$source.{source}"},
        "verify_action": "postgres.consumer_check",
        "verify_params": {"uri": uri},
    }


PLANS: dict[str, dict] = {
    "database": {
        "name": "Database recovery",
        "service": "database",
        "description": "Restart the endpoint; if that fails restore the newest verified backup (or branch "
        "from PITR); update the connection; redeploy; verify.",
        "steps": [
            (
                "restart_endpoint",
                "Restart the Neon endpoint",
                "neon.restart_endpoint",
                {"on_failure": FB, "fallback": "restore_backup"} | PG_HEALTH,
            ),
            (
                "restore_backup",
                "Restore the newest verified backup and switch to it",
                "postgres.restore",
                {"only_as_fallback": True, "on_failure": FB, "fallback": "branch_pitr"} | PG_HEALTH,
            ),
            (
                "branch_pitr",
                "Create a recovery branch from PITR",
                "neon.branch_from_pitr",
                {"only_as_fallback": True, "on_failure": FB, "fallback": "pitr_restore"},
            ),
            (
                "pitr_restore",
                "Bring up the database at the latest moment from the WAL archive (no Neon)",
                "pitr.restore",
                {"only_as_fallback": True, "params": {"to_time": "latest"}},
            ),
            (
                "update_connection",
                "Update the connection string",
                "cloudflare.set_secret",
                {
                    "requires": "branch_pitr",
                    "params": {"secret": "DATABASE_URL", "value": "$branch_pitr.connection_uri"},
                },
            ),
            (
                "redeploy",
                "Redeploy the Worker with the new connection",
                "cloudflare.redeploy_worker",
                {"requires": "branch_pitr"},
            ),
            ("verify", "Verify the database answers", "verify", PG_HEALTH),
        ],
    },
    "auth": {
        "name": "Authentication recovery",
        "service": "auth",
        "description": "Check the auth endpoint; redeploy if it fails; check the session store; verify.",
        "steps": [
            (
                "check",
                "Check the auth endpoint",
                "verify",
                {"on_failure": FB, "fallback": "redeploy"} | http_check("auth"),
            ),
            ("redeploy", "Redeploy the Worker", "cloudflare.redeploy_worker", {"only_as_fallback": True}),
            ("sessions", "Check the session store", "redis.health", {"on_failure": CONT}),
            ("verify", "Verify users can log in", "verify", http_check("auth")),
        ],
    },
    "api": {
        "name": "API recovery",
        "service": "api",
        "description": "Redeploy; if it still fails roll back to the previous version; as a last resort "
        "enable maintenance mode.",
        "steps": [
            (
                "redeploy",
                "Redeploy the Worker",
                "cloudflare.redeploy_worker",
                {"on_failure": FB, "fallback": "rollback"} | http_check("api"),
            ),
            (
                "rollback",
                "Roll back to the previous version",
                "cloudflare.rollback_worker",
                {"only_as_fallback": True, "on_failure": FB, "fallback": "maintenance"} | http_check("api"),
            ),
            (
                "maintenance",
                "Enable maintenance mode",
                "cloudflare.set_secret",
                {"only_as_fallback": True, "params": {"secret": "MAINTENANCE_MODE", "value": "true"}},
            ),
            ("verify", "Verify the API answers", "verify", http_check("api")),
        ],
    },
    "websocket": {
        "name": "WebSocket recovery",
        "service": "websocket",
        "description": "Check the WebSocket endpoint; redeploy if it fails; verify.",
        "steps": [
            (
                "check",
                "Check the WebSocket endpoint",
                "verify",
                {"on_failure": FB, "fallback": "redeploy"} | http_check("websocket"),
            ),
            ("redeploy", "Redeploy the Worker", "cloudflare.redeploy_worker", {"only_as_fallback": True}),
            ("verify", "Verify WebSocket connections", "verify", http_check("websocket")),
        ],
    },
    "media": {
        "name": "Media recovery",
        "service": "media",
        "description": "Check the media files against the newest verified backup and restore its copy if files "
        "are missing (then purge the edge cache); check media delivery, purging the edge cache if it fails; verify.",
        "steps": [
            (
                "check_files",
                "Check the media files against the newest verified backup",
                "restore.check",
                {"params": {"kind": "media"}, "on_failure": FB, "fallback": "restore"},
            ),
            (
                "restore",
                "Restore the newest verified media copy",
                "restore.latest",
                {"params": {"kind": "media"}, "only_as_fallback": True} | files_check("media"),
            ),
            (
                "purge_restored",
                "Purge the edge cache after the restore",
                "cloudflare.purge_cache",
                {"requires": "restore", "on_failure": CONT},
            ),
            ("check", "Check media delivery", "verify", {"on_failure": FB, "fallback": "purge"} | http_check("media")),
            ("purge", "Purge the edge cache", "cloudflare.purge_cache", {"only_as_fallback": True}),
            ("verify", "Verify media is served", "verify", http_check("media")),
        ],
    },
    "config": {
        "name": "Configuration recovery",
        "service": "",
        "description": "Check the configuration files (CONFIG_PATHS) against the newest verified backup; restore "
        "its copy if files are missing, purge the edge cache, verify.",
        "steps": [
            (
                "check_files",
                "Check the configuration files against the newest verified backup",
                "restore.check",
                {"params": {"kind": "config"}, "on_failure": FB, "fallback": "restore"},
            ),
            (
                "restore",
                "Restore the newest verified configuration copy",
                "restore.latest",
                {"params": {"kind": "config"}, "only_as_fallback": True} | files_check("config"),
            ),
            (
                "purge_restored",
                "Purge the edge cache after the restore",
                "cloudflare.purge_cache",
                {"requires": "restore", "on_failure": CONT},
            ),
            ("verify", "Verify every configuration file is in place", "verify", files_check("config")),
        ],
    },
    "cache": {
        "name": "Cache recovery",
        "service": "cache",
        "description": "Check the cache; flush it if unhealthy; purge the edge cache; verify.",
        "steps": [
            ("check", "Check the cache", "redis.health", {"on_failure": FB, "fallback": "flush"}),
            ("flush", "Flush the cache", "redis.flush", {"only_as_fallback": True}),
            ("purge_edge", "Purge the edge cache", "cloudflare.purge_cache", {"on_failure": CONT}),
            ("verify", "Verify the cache answers", "verify", {"verify_action": "redis.health"}),
        ],
    },
    "full": {
        "name": "Full system recovery",
        "service": "",
        "description": "The runbook's disaster-recovery.sh full: emergency backup (if possible), damage "
        "assessment, every service's plan in recovery order, verification, report.",
        "steps": [
            ("emergency_backup", "Create an emergency backup (if possible)", "backup.emergency", {"on_failure": CONT}),
            ("assess", "Assess the damage", "probe.assess", {"on_failure": CONT}),
            ("services", "Recover every service in recovery order", "include.services", {}),
            ("verify", "Verify the whole platform", "probe.steady_state", {}),
            ("report", "Generate the report", "report.generate", {"on_failure": CONT}),
        ],
    },
    # Drills: scratch resources only, with steady-state checks before and after (done by the engine).
    "backup-restore": {
        "name": "Drill: backup restoration",
        "service": "database",
        "drill": True,
        "description": "Restore the newest verified backup of each kind into scratch (a scratch database, or a "
        "scratch SQLite file; scratch folders; a scratch redis-server for User Sessions) and compare row counts, "
        "checksums, file lists and key counts with the manifest.",
        "steps": [
            (
                "restore_database",
                "Restore the newest database backup into a scratch database",
                "restore.scratch",
                {"service": "database", "params": {"kind": "database"}} | intact("database"),
            ),
            (
                "restore_config",
                "Restore the newest configuration backup into a scratch folder",
                "restore.scratch",
                {"service": "", "params": {"kind": "config"}} | intact("config"),
            ),
            (
                "restore_media",
                "Restore the newest media backup into a scratch folder",
                "restore.scratch",
                {"service": "media", "params": {"kind": "media"}} | intact("media"),
            ),
            (
                "restore_sessions",
                "Load the newest User Sessions snapshot into a scratch redis-server",
                "restore.scratch",
                {"service": "", "params": {"kind": "sessions"}} | intact("sessions"),
            ),
        ],
    },
    "database-failover": {
        "name": "Drill: database failover",
        "service": "database",
        "drill": True,
        "description": "Count the source's rows, create a throwaway PITR branch (Neon; without Neon, a PITR copy "
        "from the WAL archive), connect to it, check it answers and holds every table of the source with the same "
        "row counts, point a scratch consumer at it, then delete it.",
        "steps": [
            (
                "source",
                "Count the rows of the source before the copy is made",
                "postgres.source_counts",
                {"on_failure": CONT},
            ),
            (
                "branch",
                "Create a drill branch from PITR",
                "neon.branch_from_pitr",
                {"on_failure": FB, "fallback": "pitr", "params": {"name": "drill-failover"}},
            ),
            (
                "pitr",
                "Bring up a PITR copy from the WAL archive (no Neon)",
                "pitr.restore",
                {"only_as_fallback": True, "on_failure": CONT, "params": {"to_time": "latest"}},
            ),
            (
                "check_pitr",
                "Connect to the PITR copy and compare its tables and rows with the source",
                "postgres.check_copy",
                copy_check("pitr", "pitr"),
            ),
            (
                "pitr_stop",
                "Stop and remove the PITR copy",
                "pitr.stop",
                {"requires": "pitr", "always": True, "on_failure": CONT, "params": {"datadir": "$pitr.datadir"}},
            ),
            (
                "check_branch",
                "Connect to the branch and compare its tables and rows with the source",
                "postgres.check_copy",
                copy_check("branch", "target"),
            ),
            (
                "delete_branch",
                "Delete the drill branch",
                "neon.delete_branch",
                {"requires": "branch", "always": True, "params": {"branch_id": "$branch.branch_id"}},
            ),
        ],
    },
    "api-rollback": {
        "name": "Drill: API rollback",
        "service": "api",
        "drill": True,
        "description": "Roll a scratch Worker (DRILL_CF_WORKER_NAME) back and forward again, or dry-run the "
        "rollback of the real one; check the API answers.",
        "steps": [
            ("rollback", "Roll back (scratch Worker, or a dry run of the real one)", "cloudflare.rollback_drill", {}),
            ("verify", "Check the API answers", "verify", http_check("api")),
        ],
    },
    "cache-recovery": {
        "name": "Drill: cache recovery",
        "service": "cache",
        "drill": True,
        "description": "Fill, flush and re-warm a scratch Redis database (DRILL_REDIS_URL, or DRILL_REDIS_DB), "
        "never the broker's, the pub/sub's or the protected cache's.",
        "steps": [
            (
                "scratch_cycle",
                "Fill, flush and re-warm a scratch Redis database",
                "redis.scratch_cycle",
                {"verify_action": "redis.scratch_health"},
            ),
        ],
    },
    "detection": {
        "name": "Drill: detection and automated mitigation",
        "service": "api",
        "drill": True,
        "description": "The runbook's scenario 2: a scratch health endpoint the drill serves follows the scratch "
        "Worker's live version (DRILL_CF_WORKER_NAME), which the drill marks bad; the error-rate rule fires, its "
        "chain runs for real on the scratch Worker only (redeploy, roll back, maintenance as its secret), the "
        "endpoint recovers because of what is deployed and the incident resolves by itself; the scratch Worker "
        "is put back as it was. Without a scratch Worker: inconclusive.",
        "steps": [
            (
                "scenario",
                "Inject errors into a scratch endpoint; the rule fires, the mitigation runs, the incident resolves",
                "detection.scenario",
                {},
            ),
        ],
    },
    "communications": {
        "name": "Drill: communication channels",
        "service": "",
        "drill": True,
        "description": "Send a marked test message through every channel (Slack routes, PagerDuty, Statuspage "
        "test page, drill email, webhook); each must be accepted.",
        "steps": [("test_message", "Send a test message through every channel", "notify.test", {})],
    },
}
SCENARIOS = [slug for slug, plan in PLANS.items() if plan.get("drill")]
SERVICE_PLANS = [slug for slug, plan in PLANS.items() if not plan.get("drill") and plan["service"]]
DEFAULT_RECOVERY_ORDER = ["database", "auth", "api", "websocket", "media", "cache"]


def seed(apps, *, only: tuple[str, ...] = (), replace: bool | dict[str, list[str]] = False) -> None:
    """Create the missing plans (``only`` these when given) with their steps. ``replace``: True rewrites
    the steps of existing ones; a dict rewrites only the plans whose steps are still exactly the given
    (earlier seeded) actions, i.e. nobody edited them."""
    Plan = apps.get_model("recovery", "RecoveryPlan")
    for slug, spec in PLANS.items():
        if only and slug not in only:
            continue
        plan, created = Plan.objects.get_or_create(
            slug=slug,
            defaults={
                "name": spec["name"],
                "service": spec["service"],
                "description": spec["description"],
                "is_drill": spec.get("drill", False),
            },
        )
        if not created:
            if isinstance(replace, dict):
                seeded = list(plan.steps.order_by("position").values_list("action", flat=True))
                if replace.get(slug) != seeded:
                    continue
            elif not replace:
                continue
            Plan.objects.filter(id=plan.id).update(name=spec["name"], description=spec["description"])
            plan.steps.all().delete()
        _seed_steps(apps, plan, spec)


def _seed_steps(apps, plan, spec: dict) -> None:
    Step = apps.get_model("recovery", "PlanStep")
    fields = {f.name for f in Step._meta.get_fields()}  # an older migration's model may lack newer fields
    for position, (name, title, action, opts) in enumerate(spec["steps"], start=1):
        Step.objects.create(
            plan=plan,
            position=position,
            name=name,
            title=title,
            action=action,
            service=opts.get("service", spec["service"]),
            params=opts.get("params", {}),
            on_failure=opts.get("on_failure", "abort"),
            fallback=opts.get("fallback", ""),
            only_as_fallback=opts.get("only_as_fallback", False),
            requires=opts.get("requires", ""),
            **({"always": opts.get("always", False)} if "always" in fields else {}),
            verify_action=opts.get("verify_action", ""),
            verify_params=opts.get("verify_params", {}),
        )

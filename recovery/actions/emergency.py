"""The runbook's emergency commands as actions: read-only and maintenance on every back end, the
two caches, an emergency backup, a Worker rollback, database scaling. Each says how it is undone."""

from __future__ import annotations

from backups import services as backup_services
from backups.targets import database_url
from pitchey_incidents.errors import DomainError
from pitchey_incidents.outcome import Outcome

from .. import runcontext, switches
from ..providers import REGISTRY as PROVIDERS
from .base import Action, Param, register
from .builtin import SCRATCH, ProviderAction

# Named compute sizes (the runbook's "xlarge" included) → Neon autoscaling limits, in compute units.
COMPUTE_SIZES: dict[str, tuple[float, float]] = {
    "small": (0.25, 1.0),
    "medium": (1.0, 2.0),
    "large": (2.0, 4.0),
    "xlarge": (4.0, 8.0),
}


class SwitchAction(Action):
    flag: str
    on: bool
    destructive = False

    def run(self, params, *, dry_run=False):
        if params.get("scratch"):  # a drill: the scratch Worker's secret only, no switch of the platform's
            return self._scratch(dry_run=dry_run)
        return switches.switch_set(flag=self.flag, on=self.on, dry_run=dry_run)

    def _scratch(self, *, dry_run: bool) -> Outcome:
        cloudflare = PROVIDERS["cloudflare"]
        if self.on:
            outcome = cloudflare.run("set_secret", {"secret": self.flag, "scratch": True}, dry_run=dry_run)
        else:
            outcome = cloudflare.run("delete_secret", {"secret": self.flag, "scratch": True}, dry_run=dry_run)
        changed = ["scratch Worker"] if outcome.ok and not dry_run else []
        return Outcome(outcome.ok, outcome.output, (outcome.data or {}) | {"changed": changed}, skipped=outcome.skipped)

    def undo(self, params, outcome):
        if not self.on or not outcome.data.get("changed"):
            return {}
        name = "disable_read_only" if self.flag == "READ_ONLY_MODE" else "disable_maintenance"
        scratch = {"scratch": True} if params.get("scratch") else {}
        where = " on the scratch Worker" if scratch else ""
        return {"action": name, "params": scratch, "label": f"Turn {self.flag} off{where}"}


def _switch(name: str, flag: str, on: bool, label: str, description: str, params=()) -> None:
    attrs = {"name": name, "label": label, "description": description, "flag": flag, "on": on, "params": params}
    register(type(name, (SwitchAction,), attrs))


# Drills only: maintenance mode as the scratch Worker's secret (set, then deleted), nothing of the platform's.
SCRATCH_MAINTENANCE = Param(
    "scratch",
    "bool",
    default=False,
    help="Only the scratch Worker's MAINTENANCE_MODE secret (DRILL_CF_WORKER_NAME)",
    omit_unset=True,
)


_BACKENDS = "the flag at /api/v1/flags/, the Cloudflare Worker secret"
_switch(
    "enable_read_only",
    "READ_ONLY_MODE",
    True,
    "Enable read-only mode (stop all writes)",
    f"Sets READ_ONLY_MODE on {_BACKENDS}, and makes the protected PostgreSQL (TARGET_DATABASE_URL) "
    "refuse writes: default_transaction_read_only on, its sessions ended so they reconnect read-only.",
)
_switch("disable_read_only", "READ_ONLY_MODE", False, "Disable read-only mode", "Allows writes again everywhere.")
_switch(
    "enable_maintenance",
    "MAINTENANCE_MODE",
    True,
    "Enable maintenance mode",
    f"Sets MAINTENANCE_MODE on {_BACKENDS}: the platform shows its maintenance page. With scratch (drills): "
    "only the scratch Worker's secret.",
    (SCRATCH_MAINTENANCE,),
)
_switch(
    "disable_maintenance",
    "MAINTENANCE_MODE",
    False,
    "Disable maintenance mode",
    "Ends maintenance. With scratch (drills): deletes the scratch Worker's secret.",
    (SCRATCH_MAINTENANCE,),
)


@register
class PurgeEdgeCache(ProviderAction):
    name = "purge_edge_cache"
    label = "Purge the edge cache"
    description = "Cloudflare purge_cache on CF_ZONE_ID: everything, or only the given URLs, tags, hosts or prefixes."
    params = (
        Param("files", "list", help="URLs to purge"),
        Param("tags", "list", help="Cache tags to purge"),
        Param("hosts", "list", help="Host names to purge"),
        Param("prefixes", "list", help="URL prefixes to purge"),
    )
    provider, provider_action = "cloudflare", "purge_cache"

    def run(self, params, *, dry_run=False):
        given = {k: v for k, v in params.items() if v}
        return PROVIDERS["cloudflare"].run("purge_cache", given, dry_run=dry_run)


@register
class FlushAppCache(ProviderAction):
    name = "flush_app_cache"
    label = "Flush the application cache"
    description = (
        "FLUSHDB on the protected Redis (TARGET_REDIS_URL); refused when that database is our broker, "
        "result backend or pub/sub."
    )
    provider, provider_action = "redis", "flush_app"

    def available(self):
        return PROVIDERS["redis"].available_app_cache()


@register
class PurgeCache(FlushAppCache):
    """The old name, kept so that stored rules and mitigations that say ``purge_cache`` still run."""

    name = "purge_cache"
    label = "Flush the application cache (deprecated name: use flush_app_cache)"


@register
class EmergencyBackup(Action):
    name = "emergency_backup"
    label = "Emergency database backup"
    description = "A database backup now (the runbook's pg_dump), on a worker, with its progress."
    destructive = False

    def run(self, params, *, dry_run=False):
        runcontext.record("PG_DUMP", database_url(), {"kind": "database"}, sent=not dry_run)
        if dry_run:
            return Outcome(True, f"would back up {runcontext.mask_url(database_url())}")
        backup = backup_services.backup_start(kind="database", actor=runcontext.current().actor)
        return Outcome(True, f"database backup #{backup.id} queued", {"backup": backup.id})


@register
class RollbackDeploy(ProviderAction):
    name = "rollback_deploy"
    label = "Roll back the Worker deployment"
    description = "Deploy the previous Worker version at 100 % (the runbook's wrangler rollback)."
    params = (SCRATCH,)
    provider, provider_action = "cloudflare", "rollback_worker"

    def undo(self, params, outcome):
        version = outcome.data.get("from")
        if not version:
            return {}
        scratch = {"scratch": True} if params.get("scratch") else {}
        return {
            "action": "deploy_worker_version",
            "params": {"version_id": version, **scratch},
            "label": f"Forward to {version}" + (" (scratch Worker)" if scratch else ""),
        }


@register
class DeployWorkerVersion(ProviderAction):
    name = "deploy_worker_version"
    label = "Deploy a Worker version"
    description = "Deploy one Worker version at 100 % (a rollback's undo)."
    params = (Param("version_id", required=True, help="The version to deploy"), SCRATCH)
    provider, provider_action = "cloudflare", "deploy_version"


def _cu(raw: str, field: str) -> float | None:
    if raw in (None, ""):
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise DomainError("must be a number of compute units", field=f"params.{field}") from None
    if not 0.25 <= value <= 56:
        raise DomainError("must be between 0.25 and 56 compute units", field=f"params.{field}")
    return value


@register
class ScaleDatabase(ProviderAction):
    name = "scale_database"
    label = "Scale the database compute"
    description = (
        "Read the Neon endpoint's compute, then set its autoscaling limits to a named size "
        f"({', '.join(f'{k} {lo:g}–{hi:g} CU' for k, (lo, hi) in COMPUTE_SIZES.items())}) or to min/max CU. "
        "Never shrinks without allow_shrink."
    )
    params = (
        Param("size", "choice", choices=tuple(COMPUTE_SIZES), help="A named size"),
        Param("min_cu", help="Or the lower limit, in CU"),
        Param("max_cu", help="and the upper limit, in CU"),
        Param("allow_shrink", "bool", default=False, help="Allow lowering a limit"),
    )
    provider, provider_action = "neon", "scale"

    def clean(self, raw):
        cleaned = super().clean(raw)
        low, high = _cu(cleaned["min_cu"], "min_cu"), _cu(cleaned["max_cu"], "max_cu")
        if cleaned["size"] and (low or high):
            raise DomainError("give a size or min_cu/max_cu, not both", field="params.size")
        if not cleaned["size"] and (low is None or high is None):
            raise DomainError("give a size, or both min_cu and max_cu", field="params.size")
        if low is not None and high is not None and low > high:
            raise DomainError("must be at most max_cu", field="params.min_cu")
        return cleaned | {"min_cu": low, "max_cu": high}

    def run(self, params, *, dry_run=False):
        low, high = COMPUTE_SIZES[params["size"]] if params["size"] else (params["min_cu"], params["max_cu"])
        scale = {"min_cu": low, "max_cu": high, "allow_shrink": params["allow_shrink"]}
        return PROVIDERS["neon"].run("scale", scale, dry_run=dry_run)

    def undo(self, params, outcome):
        before = outcome.data.get("previous")
        if not before or not outcome.ok:
            return {}
        back = {"min_cu": str(before["min_cu"]), "max_cu": str(before["max_cu"]), "allow_shrink": True}
        return {
            "action": "scale_database",
            "params": back,
            "label": f"Scale back to {before['min_cu']}–{before['max_cu']} CU",
        }

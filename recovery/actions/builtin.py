"""Mitigation actions: thin adapters over the providers (``recovery/providers/``), keyed by name."""

from __future__ import annotations

from django.conf import settings

from pitchey_incidents.errors import DomainError

from ..providers import REGISTRY
from .base import Action, Param, register


class ProviderAction(Action):
    """An action that runs ``provider.action`` with the cleaned params (renamed by ``param_map``)."""

    provider: str
    provider_action: str
    fixed: dict = {}

    def available(self):
        return REGISTRY[self.provider].available()

    def run(self, params, *, dry_run=False):
        return REGISTRY[self.provider].run(self.provider_action, {**self.fixed, **params}, dry_run=dry_run)


def _action(name: str, label: str, spec: str, *, description: str = "", params=(), fixed=None, destructive=True):
    provider, _, provider_action = spec.partition(".")
    register(
        type(
            name,
            (ProviderAction,),
            {
                "name": name,
                "label": label,
                "description": description or f"{label} ({spec}).",
                "params": tuple(params),
                "provider": provider,
                "provider_action": provider_action,
                "fixed": fixed or {},
                "destructive": destructive,
            },
        )
    )


_action(
    "terminate_idle_connections",
    "Terminate idle database connections",
    "postgres.terminate_idle",
    description="The runbook's pg_terminate_backend on connections idle for longer than the limit.",
    params=[Param("idle_minutes", "int", default=10, minimum=0, maximum=1440, help="Idle for at least")],
)
_action("purge_cache", "Purge cache", "redis.flush", description="Flush the cache Redis database (TARGET_REDIS_URL).")
for _name, _flag, _on, _label in [
    ("enable_read_only", "READ_ONLY_MODE", True, "Enable read-only mode (stop all writes)"),
    ("disable_read_only", "READ_ONLY_MODE", False, "Disable read-only mode"),
    ("enable_maintenance", "MAINTENANCE_MODE", True, "Enable maintenance mode"),
    ("disable_maintenance", "MAINTENANCE_MODE", False, "Disable maintenance mode"),
]:
    _action(
        _name,
        _label,
        "flags.set",
        description=f"Sets {_flag} {'on' if _on else 'off'} at /api/v1/flags/.",
        fixed={"flag": _flag, "enabled": _on},
        destructive=False,
    )
# Cloud actions (enabled when their provider is configured).
_action(
    "rollback_deploy",
    "Roll back the Worker deployment",
    "cloudflare.rollback_worker",
    description="Redeploy the previous Worker version at 100 % (the runbook's wrangler rollback).",
)
_action(
    "restart_worker",
    "Redeploy the platform's Worker",
    "cloudflare.redeploy_worker",
    description="Deploy the Worker's live version again as a new deployment at 100 % (the runbook's "
    "applyMitigation('restart_worker')). Our own Celery workers: python manage.py workers restart.",
)
_action(
    "restart_database_endpoint",
    "Restart the database endpoint",
    "neon.restart_endpoint",
    description="Restart the Neon compute endpoint (NEON_ENDPOINT_ID) and wait for Neon's operation to finish.",
)
_action(
    "purge_edge_cache",
    "Purge the edge cache",
    "cloudflare.purge_cache",
    description="Cloudflare purge_everything on CF_ZONE_ID.",
)
_action(
    "branch_from_pitr",
    "Create a recovery branch from PITR",
    "neon.branch_from_pitr",
    description="A Neon branch at a past timestamp or LSN, with a read-write endpoint.",
    params=[Param("timestamp", help="RFC 3339 time; default: now"), Param("lsn", help="Or an LSN")],
)
_action(
    "pitr_restore",
    "Restore the database to a moment (WAL archive)",
    "pitr.restore",
    description="The newest base backup before the moment plus the WAL archive, replayed by stock postgres "
    "into a new data directory and port (self-hosted PostgreSQL with continuous archiving).",
    params=[Param("to_time", default="latest", help="RFC 3339 time, or latest")],
)
_action(
    "scale_database",
    "Scale the database compute",
    "neon.resize",
    description="Set the Neon endpoint's autoscaling limits (compute units).",
    params=[
        Param("min_cu", "int", default=1, minimum=1, maximum=56),
        Param("max_cu", "int", default=4, minimum=1, maximum=56),
    ],
)


@register
class RunCommand(ProviderAction):
    name = "run_command"
    label = "Run a configured command"
    description = "Runs one of the commands named in ALLOWED_COMMANDS, with a timeout."
    params = (Param("command", "str", required=True, help="Name of a configured command"),)
    provider, provider_action = "command", "run"

    def clean(self, raw):

        cleaned = super().clean(raw)
        if cleaned["command"] not in settings.ALLOWED_COMMANDS:
            allowed = ", ".join(sorted(settings.ALLOWED_COMMANDS)) or "none configured"
            raise DomainError(f"not a configured command (allowed: {allowed})", field="params.command")
        return cleaned

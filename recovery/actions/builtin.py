"""Mitigation actions: thin adapters over the providers (``recovery/providers/``), keyed by name."""

from __future__ import annotations

from django.conf import settings

from pitchey_incidents.errors import DomainError

from ..providers import REGISTRY
from .base import Action, Param, register

# Drills only: act on the scratch Worker (DRILL_CF_WORKER_NAME), never the platform's.
SCRATCH = Param(
    "scratch", "bool", default=False, help="Act on the scratch Worker DRILL_CF_WORKER_NAME (drills)", omit_unset=True
)


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
# Cloud actions (enabled when their provider is configured).
_action(
    "restart_worker",
    "Redeploy the platform's Worker",
    "cloudflare.redeploy_worker",
    description="Deploy the Worker's live version again as a new deployment at 100 % (the runbook's "
    "applyMitigation('restart_worker')). Our own Celery workers: python manage.py workers restart.",
    params=[SCRATCH],
)
_action(
    "restart_database_endpoint",
    "Restart the database endpoint",
    "neon.restart_endpoint",
    description="Restart the Neon compute endpoint (NEON_ENDPOINT_ID) and wait for Neon's operation to finish.",
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

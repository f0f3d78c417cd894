"""The actions that run for real on any installation (cloud ones come with their providers)."""

from __future__ import annotations

import shlex
import subprocess

import psycopg
import redis
from django.conf import settings
from django.db import transaction

from pitchey_incidents.targets import libpq_url, target_database_url, target_is_postgres, target_redis_url

from ..models import RuntimeFlag
from .base import Action, ActionResult, Param, register

IDLE_SQL = (
    "SELECT pid FROM pg_stat_activity WHERE state = 'idle' AND pid <> pg_backend_pid() "
    "AND datname = current_database() AND state_change < now() - make_interval(mins => %s)"
)


@register
class TerminateIdleConnections(Action):
    name = "terminate_idle_connections"
    label = "Terminate idle database connections"
    description = "The runbook's pg_terminate_backend on connections idle for longer than the limit."
    params = (Param("idle_minutes", "int", default=10, minimum=0, maximum=1440, help="Idle for at least"),)

    def available(self):
        return (True, "") if target_is_postgres() else (False, "no PostgreSQL target configured")

    def run(self, params, *, dry_run=False):
        if not target_is_postgres():
            return ActionResult(False, "no PostgreSQL target: set TARGET_DATABASE_URL")
        with psycopg.connect(libpq_url(target_database_url()), connect_timeout=5, autocommit=True) as conn:
            pids = [row[0] for row in conn.execute(IDLE_SQL, (params["idle_minutes"],))]
            if dry_run:
                return ActionResult(True, f"would terminate {len(pids)} idle connection(s)", {"pids": pids})
            killed = [pid for pid in pids if conn.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]]
        return ActionResult(True, f"terminated {len(killed)} idle connection(s)", {"pids": killed})


@register
class PurgeCache(Action):
    name = "purge_cache"
    label = "Purge cache"
    description = "Flush the cache Redis database (TARGET_REDIS_URL)."

    def available(self):
        return (True, "") if target_redis_url() else (False, "no Redis target configured")

    def run(self, params, *, dry_run=False):
        url = target_redis_url()
        if not url:
            return ActionResult(False, "no Redis target: set TARGET_REDIS_URL")
        client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        keys = client.dbsize()
        if dry_run:
            return ActionResult(True, f"would flush {keys} key(s)", {"keys": keys})
        client.flushdb()
        return ActionResult(True, f"flushed {keys} key(s)", {"keys": keys})


class FlagAction(Action):
    flag: str
    enable: bool
    destructive = False

    def run(self, params, *, dry_run=False):
        state = "on" if self.enable else "off"
        if dry_run:
            return ActionResult(True, f"would turn {self.flag} {state}")
        with transaction.atomic():
            RuntimeFlag.objects.update_or_create(name=self.flag, defaults={"enabled": self.enable})
        return ActionResult(True, f"{self.flag} is {state}", {"flag": self.flag, "enabled": self.enable})


def _flag_action(name: str, flag: str, enable: bool, label: str) -> None:
    register(
        type(
            name,
            (FlagAction,),
            {
                "name": name,
                "flag": flag,
                "enable": enable,
                "label": label,
                "description": f"Sets {flag} {'on' if enable else 'off'} at /api/v1/flags/.",
            },
        )
    )


_flag_action("enable_read_only", "READ_ONLY_MODE", True, "Enable read-only mode (stop all writes)")
_flag_action("disable_read_only", "READ_ONLY_MODE", False, "Disable read-only mode")
_flag_action("enable_maintenance", "MAINTENANCE_MODE", True, "Enable maintenance mode")
_flag_action("disable_maintenance", "MAINTENANCE_MODE", False, "Disable maintenance mode")


@register
class RestartWorker(Action):
    name = "restart_worker"
    label = "Restart workers"
    description = "Broadcast Celery's pool_restart to the named workers (all when none are named)."
    params = (Param("workers", "list", help="Worker names, e.g. celery@host; empty = all"),)

    def run(self, params, *, dry_run=False):
        from pitchey_incidents.celery import app

        destination = params["workers"] or settings.CELERY_WORKER_NAMES or None
        replies = app.control.ping(destination=destination, timeout=3) or []
        names = sorted(name for reply in replies for name in reply)
        if not names:
            return ActionResult(False, "no worker answered")
        if dry_run:
            return ActionResult(True, f"would restart the pool of {', '.join(names)}", {"workers": names})
        answers = app.control.pool_restart(destination=names, reply=True, timeout=5) or []
        done = sorted(n for a in answers for n, r in a.items() if "ok" in r)
        failed = sorted(n for a in answers for n, r in a.items() if "ok" not in r)
        return ActionResult(
            bool(done) and not failed,
            f"restarted: {', '.join(done) or 'none'}" + (f"; failed: {', '.join(failed)}" if failed else ""),
            {"workers": done},
        )


@register
class RunCommand(Action):
    name = "run_command"
    label = "Run a configured command"
    description = "Runs one of the commands named in ALLOWED_COMMANDS, with a timeout."
    params = (Param("command", "str", required=True, help="Name of a configured command"),)

    def clean(self, raw):
        cleaned = super().clean(raw)
        if cleaned["command"] not in settings.ALLOWED_COMMANDS:
            from pitchey_incidents.errors import DomainError

            allowed = ", ".join(sorted(settings.ALLOWED_COMMANDS)) or "none configured"
            raise DomainError(f"not a configured command (allowed: {allowed})", field="params.command")
        return cleaned

    def available(self):
        return (True, "") if settings.ALLOWED_COMMANDS else (False, "no commands in ALLOWED_COMMANDS")

    def run(self, params, *, dry_run=False):
        argv = shlex.split(settings.ALLOWED_COMMANDS[params["command"]])
        if dry_run:
            return ActionResult(True, f"would run: {shlex.join(argv)}")
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=settings.COMMAND_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return ActionResult(False, f"timed out after {settings.COMMAND_TIMEOUT_S:g}s")
        except OSError as exc:
            return ActionResult(False, f"could not start: {exc.strerror}")
        output = (done.stdout + done.stderr)[-8000:]
        return ActionResult(
            done.returncode == 0, f"exit {done.returncode}\n{output}".strip(), {"exit": done.returncode}
        )

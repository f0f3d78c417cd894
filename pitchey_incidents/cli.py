"""Shared command-line plumbing: subcommands, one-line errors, the acting user and their time zone."""

from __future__ import annotations

import gc
import getpass
import os

from django.core.management.base import BaseCommand, CommandError

from . import jobs
from .errors import DomainError
from .zones import in_zone_of, user_named


class DomainCommand(BaseCommand):
    """A command whose domain errors print as one line on stderr with a non-zero exit.

    Operational commands skip Django's system checks (``manage.py check``, ``migrate`` and the
    servers still run them): loading every URL and view to check them costs a third of a second
    that an incident commander or a scheduled backup should not wait for.

    With the broker down, a command's jobs run inline (one check of at most ``BROKER_CHECK_TIMEOUT_S``
    decides), rather than each waiting seconds on connection timeouts and then a dead queue."""

    requires_system_checks: list = []

    def run_from_argv(self, argv):
        """From a shell (``manage.py``, not ``call_command``): what start-up built (the modules, the
        models, the settings: about 100,000 objects the collector tracks, all kept until exit) is moved
        out of the cyclic garbage collector's sight. Otherwise every full collection walks them again, the
        last one at exit: about a quarter of a small backup's own CPU (docs/backups.md)."""
        gc.freeze()
        return super().run_from_argv(argv)

    def execute(self, *args, **options):
        jobs.inline_when_broker_down()
        try:
            with in_zone_of(user_named(cli_actor().removeprefix("cli:"))):  # the acting user's time zone
                return super().execute(*args, **options)
        except DomainError as exc:
            where = f"{exc.field}: " if exc.field else ""
            raise CommandError(f"{where}{exc.message}") from None


def cli_actor() -> str:
    """Who runs the command: ``PITCHEY_ACTOR``, else the login name, as ``cli:<name>``."""
    name = os.environ.get("PITCHEY_ACTOR")
    if not name:
        try:
            name = getpass.getuser()
        except Exception:
            name = "unknown"
    return f"cli:{name}"

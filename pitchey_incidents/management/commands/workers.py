"""``manage.py workers restart [NAME …] [--dry-run]``: restart the pools of our own Celery workers.

Maintenance of this application, not a mitigation of the platform: the runbook's ``restart_worker``
redeploys the platform's Cloudflare Worker (docs/detection.md)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from pitchey_incidents.jobs import workers_restart


class Command(BaseCommand):
    help = "Restart the pool of our own Celery workers (all, or the named ones)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        restart = sub.add_parser("restart", help="broadcast pool_restart (CELERY_WORKER_NAMES, else all)")
        restart.add_argument("names", nargs="*", help="worker names, e.g. celery@host")
        restart.add_argument("--dry-run", action="store_true", help="list the workers that answer, restart none")

    def handle(self, *args, verb: str, names: list[str], dry_run: bool = False, **options):
        outcome = workers_restart(names, dry_run=dry_run)
        if not outcome.ok:
            raise CommandError(outcome.output)
        self.stdout.write(outcome.output)

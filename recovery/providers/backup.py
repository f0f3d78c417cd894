"""The backups app as a provider: the emergency backup that starts a full recovery."""

from __future__ import annotations

from backups import services

from .base import Outcome, Provider, register


@register
class Backup(Provider):
    name = "backup"
    label = "Backups"

    def do_emergency(self, *, dry_run: bool, kind: str = "database") -> Outcome:
        if dry_run:
            return Outcome(True, f"would take an emergency {kind} backup")

        backup = services.backup_start(kind=kind, actor="recovery", trigger="manual", inline=True)
        backup.refresh_from_db()
        ok = backup.status == "succeeded"
        return Outcome(ok, f"emergency {kind} backup #{backup.id}: {backup.status}", {"backup": backup.id})

"""Thin Celery tasks: take ids, call a service."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from pitchey_incidents.jobs import backoff_delay

from . import pitr, restores, selectors, services
from .pitr.slot import slot_guard


@shared_task(bind=True, acks_late=True, max_retries=None)
def backup_run(self, backup_id: int) -> str:
    outcome = services.backup_execute(backup_id=backup_id)
    if outcome == "busy" and not self.request.is_eager:
        # A backup of the same target is running; this one stays queued and tries again.
        # A lock wait, not an error: retry soon (1 s, 2 s, … up to 30 s apart), with jitter.
        wait = min(30.0, 1.0 + self.request.retries)
        raise self.retry(countdown=backoff_delay(0, base=1.0, retry_after=wait))
    return outcome


@shared_task(acks_late=True)
def backup_verify_run(backup_id: int, restore_test: bool = False) -> None:
    services.backup_verify(backup_id=backup_id, restore_test=restore_test)


@shared_task
def backup_scheduled(kind: str) -> int | None:
    if kind == "sessions" and not settings.TARGET_REDIS_URL:
        return None  # no session store configured: nothing to back up (its RPO shows unknown)
    if kind == "basebackup" and not pitr.configured():
        return None  # continuous archiving is off
    return services.backup_start(kind=kind, actor="schedule", trigger="schedule").id


@shared_task
def pitr_slot_guard() -> dict | None:
    """Every minute, also when the WAL receiver is down: the slot must not fill the server's disk."""
    return slot_guard() if pitr.configured() else None


@shared_task
def backups_prune() -> dict:
    return services.backups_prune(actor="schedule")


@shared_task
def backups_verify_latest() -> list[int]:
    """Daily: restore-test the newest succeeded backup of each kind."""
    done = []
    for kind in ("database", "config", "media", "full", "sessions"):
        backup = selectors.latest_succeeded_backup(kind)
        if backup:
            services.backup_verify_start(backup=backup, actor="schedule", restore_test=True)
            done.append(backup.id)
    return done


@shared_task(acks_late=True)
def restore_run(restore_id: int) -> str:
    return restores.restore_execute(restore_id=restore_id)


@shared_task
def backups_sweep() -> dict:
    return services.backups_sweep() | {"restores": restores.restores_sweep()}

"""Thin tasks on the ``long`` queue: they take ids and call services."""

from __future__ import annotations

import os

from celery import shared_task

from . import controls, services, switches


def _owner(task) -> str:
    if task.request.is_eager or not task.request.hostname:
        return f"inline:{os.getpid()}"
    return task.request.hostname


@shared_task(bind=True, name="recovery.tasks.recovery_run", acks_late=True)
def recovery_run(self, run_id: int) -> None:
    services.run_execute(run_id=run_id, owner=_owner(self))


@shared_task(bind=True, name="recovery.tasks.drill_run", acks_late=True)
def drill_run(self, run_id: int) -> None:
    services.run_execute(run_id=run_id, owner=_owner(self))


@shared_task(name="recovery.tasks.drill_monthly")
def drill_monthly() -> None:
    services.drills_monthly()


@shared_task(name="recovery.tasks.runs_sweep")
def runs_sweep() -> None:
    services.runs_sweep()


@shared_task(name="recovery.tasks.controls_sweep")
def controls_sweep() -> None:
    """Switches left on too long (a P3), switches and control runs whose process died (reported, on record)."""
    switches.switches_overdue()
    switches.switch_claims_sweep()
    controls.control_runs_sweep()

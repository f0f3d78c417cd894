"""Thin Celery tasks: take ids, call a service."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(acks_late=True)
def mitigation_run(mitigation_id: int) -> None:
    services.mitigation_execute(mitigation_id=mitigation_id)


@shared_task
def mitigations_sweep() -> dict:
    return services.mitigations_sweep()


@shared_task
def postmortem_reminders() -> dict:
    from .postmortem_services import reminders_send

    return reminders_send()

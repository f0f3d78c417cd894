"""Thin Celery tasks: take ids, call a service.

Registered under their first names (``incidents.tasks.*``): messages already queued and the beat
schedules stored in the database name them so.
"""

from __future__ import annotations

from celery import shared_task

from incidents.lifecycle import services


@shared_task(name="incidents.tasks.mitigation_run", acks_late=True)
def mitigation_run(mitigation_id: int) -> None:
    services.mitigation_execute(mitigation_id=mitigation_id)


@shared_task(name="incidents.tasks.mitigations_sweep")
def mitigations_sweep() -> dict:
    return services.mitigations_sweep()

"""Thin Celery tasks for the outbox and escalation timers (the critical queue).

Registered under their first names (``incidents.tasks.*``): messages already queued and the beat
schedules stored in the database name them so.
"""

from __future__ import annotations

from celery import shared_task

from incidents.comms import services


@shared_task(name="incidents.tasks.notification_deliver", acks_late=True)
def notification_deliver(notification_id: int) -> str:
    return services.notification_deliver(notification_id=notification_id)


@shared_task(name="incidents.tasks.notification_sweep")
def notification_sweep() -> dict:
    return services.notification_sweep()


@shared_task(name="incidents.tasks.escalation_fire_due", acks_late=True)
def escalation_fire_due() -> int:
    return services.escalation_fire_due()

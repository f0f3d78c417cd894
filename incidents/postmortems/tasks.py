"""Thin Celery tasks for post-mortems.

Registered under their first names (``incidents.tasks.*``): messages already queued and the beat
schedules stored in the database name them so.
"""

from __future__ import annotations

from celery import shared_task

from incidents.postmortems import services


@shared_task(name="incidents.tasks.postmortem_reminders")
def postmortem_reminders() -> dict:
    return services.reminders_send()

"""Thin Celery tasks for alert intake and the probes.

Registered under their first names (``incidents.tasks.*``): messages already queued and the beat
schedules stored in the database name them so.
"""

from __future__ import annotations

from celery import shared_task

from incidents.detection import alerting, services, workers


@shared_task(name="incidents.tasks.alert_group_sync", acks_late=True)
def alert_group_sync(group_id: int) -> None:
    alerting.alert_group_sync(group_id=group_id)


@shared_task(name="incidents.tasks.alerts_auto_resolve")
def alerts_auto_resolve() -> list:
    return alerting.alerts_auto_resolve()


@shared_task(name="incidents.tasks.detection_run")
def detection_run() -> dict:
    return {"ok": services.detection_run().ok}


@shared_task(name="incidents.tasks.probe_results_prune")
def probe_results_prune() -> int:
    return services.probe_results_prune()


@shared_task(name="incidents.tasks.workers_check")
def workers_check() -> str | None:
    return workers.workers_check()

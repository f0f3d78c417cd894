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


@shared_task(acks_late=True)
def notification_deliver(notification_id: int) -> str:
    from .notifications import notification_deliver as deliver

    return deliver(notification_id=notification_id)


@shared_task
def notification_sweep() -> dict:
    from .notifications import notification_sweep as sweep

    return sweep()


@shared_task(acks_late=True)
def escalation_fire_due() -> int:
    from .notifications import escalation_fire_due as fire

    return fire()


@shared_task(acks_late=True)
def alert_group_sync(group_id: int) -> None:
    from . import alerting

    alerting.alert_group_sync(group_id=group_id)


@shared_task
def alerts_auto_resolve() -> list:
    from . import alerting

    return alerting.alerts_auto_resolve()


@shared_task
def detection_run() -> dict:
    from . import detection

    return {"ok": detection.detection_run().ok}


@shared_task
def probe_results_prune() -> int:
    from . import detection

    return detection.probe_results_prune()

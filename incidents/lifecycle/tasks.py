"""Thin Celery tasks: take ids, call a service."""

from __future__ import annotations

from celery import shared_task

from incidents.lifecycle import services


@shared_task(name="incidents.tasks.mitigation_run", acks_late=True)
def mitigation_run(mitigation_id: int) -> None:
    services.mitigation_execute(mitigation_id=mitigation_id)


@shared_task(name="incidents.tasks.mitigations_sweep")
def mitigations_sweep() -> dict:
    return services.mitigations_sweep()


@shared_task(name="incidents.tasks.postmortem_reminders")
def postmortem_reminders() -> dict:
    from incidents.postmortems.services import reminders_send

    return reminders_send()


@shared_task(name="incidents.tasks.notification_deliver", acks_late=True)
def notification_deliver(notification_id: int) -> str:
    from incidents.comms.services import notification_deliver as deliver

    return deliver(notification_id=notification_id)


@shared_task(name="incidents.tasks.notification_sweep")
def notification_sweep() -> dict:
    from incidents.comms.services import notification_sweep as sweep

    return sweep()


@shared_task(name="incidents.tasks.escalation_fire_due", acks_late=True)
def escalation_fire_due() -> int:
    from incidents.comms.services import escalation_fire_due as fire

    return fire()


@shared_task(name="incidents.tasks.alert_group_sync", acks_late=True)
def alert_group_sync(group_id: int) -> None:
    from incidents.detection import alerting

    alerting.alert_group_sync(group_id=group_id)


@shared_task(name="incidents.tasks.alerts_auto_resolve")
def alerts_auto_resolve() -> list:
    from incidents.detection import alerting

    return alerting.alerts_auto_resolve()


@shared_task(name="incidents.tasks.detection_run")
def detection_run() -> dict:
    from incidents.detection import services as detection

    return {"ok": detection.detection_run().ok}


@shared_task(name="incidents.tasks.probe_results_prune")
def probe_results_prune() -> int:
    from incidents.detection import services as detection

    return detection.probe_results_prune()

"""Celery task names outlive the code's layout: messages already queued and beat schedules stored in
the database name the tasks, so every sub-package registers its tasks under the first names."""

from django.conf import settings
from django_celery_beat.models import PeriodicTask

from pitchey_incidents.celery import app

NAMES = {
    "incidents.tasks.mitigation_run",
    "incidents.tasks.mitigations_sweep",
    "incidents.tasks.postmortem_reminders",
    "incidents.tasks.notification_deliver",
    "incidents.tasks.notification_sweep",
    "incidents.tasks.escalation_fire_due",
    "incidents.tasks.alert_group_sync",
    "incidents.tasks.alerts_auto_resolve",
    "incidents.tasks.detection_run",
    "incidents.tasks.probe_results_prune",
    "incidents.tasks.oncall_handoff_notify",
    "incidents.tasks.workers_check",
}


def test_every_incidents_task_keeps_its_registered_name():
    assert {name for name in app.tasks if name.startswith("incidents.")} == NAMES


def test_every_scheduled_task_is_registered(db):
    app.loader.import_default_modules()  # what a worker does as it starts: every app's tasks module
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    scheduled |= set(PeriodicTask.objects.values_list("task", flat=True))
    assert scheduled and not {name for name in scheduled if name not in app.tasks}

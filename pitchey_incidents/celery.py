"""Celery application; its configuration is the ``CELERY_*`` block of settings."""

from __future__ import annotations

import os

from celery import Celery
from kombu import Queue

from .queues import QUEUES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pitchey_incidents.settings")

app = Celery("pitchey_incidents")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in QUEUES]
app.autodiscover_tasks()

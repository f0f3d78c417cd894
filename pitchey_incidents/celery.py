"""Celery application; its configuration is the ``CELERY_*`` block of settings.

Also: the patch that lets a worker outlive a Redis outage (``redis_broker.py``, loaded with a Redis
broker only), and the consumer step that writes the workers' heartbeat rows (``workers.py``).
"""

from __future__ import annotations

import os

from celery import Celery
from django.conf import settings
from kombu import Queue

from .queues import QUEUES
from .redis import is_redis
from .workers import HeartbeatStep

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pitchey_incidents.settings")

app = Celery("pitchey_incidents")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in QUEUES]
app.steps["consumer"].add(HeartbeatStep)
app.autodiscover_tasks()

# With a Redis broker only: the redis client and kombu's Redis transport cost a process 0.1 s of CPU
# to import, which a command on the embedded defaults (the filesystem broker) does without.
if is_redis(settings.CELERY_BROKER_URL):
    from . import redis_broker  # noqa: E402, F401  (the patch for kombu's Redis transport)

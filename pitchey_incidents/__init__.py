"""Pitchey Incidents. The Celery application lives in ``pitchey_incidents.celery`` (``celery -A
pitchey_incidents`` finds it there); ``pitchey_incidents.jobs`` loads it before sending a task."""

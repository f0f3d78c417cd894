"""The runbook's RPO table, seeded by a data migration (existing rows are kept)."""

from __future__ import annotations

import json

from django.utils import timezone

MIN, HOUR = 60, 3600

# slug, name, RPO target, RPO maximum, frequency as the runbook says it, backup kind
DATA_TYPES = [
    ("database", "Database", HOUR, 4 * HOUR, "Every 6 hours + PITR", "database"),
    ("sessions", "User Sessions", 5 * MIN, 15 * MIN, "Continuous sync", "sessions"),
    ("config", "Configuration", 12 * HOUR, 24 * HOUR, "Every 12 hours", "config"),
    ("media", "Media Files", 24 * HOUR, 48 * HOUR, "Daily + versioning", "media"),
]


def seed(apps) -> None:
    DataType = apps.get_model("backups", "DataType")
    for slug, name, target, maximum, frequency, kind in DATA_TYPES:
        DataType.objects.get_or_create(
            slug=slug,
            defaults={
                "name": name,
                "rpo_target_s": target,
                "rpo_max_s": maximum,
                "backup_frequency": frequency,
                "backup_kind": kind,
            },
        )


DAY = 24 * HOUR

# The runbook's backup frequencies and retention table (days per tier; None = indefinitely).
# kind, every, local, cloud, archive
POLICIES = [
    ("database", 6 * HOUR, 7, 30, 90),
    ("config", 12 * HOUR, 30, 90, 365),
    ("media", DAY, 3, 90, None),
    ("full", 7 * DAY, 14, 90, 365),
    # User sessions: a snapshot of TARGET_REDIS_URL every 5 minutes, kept briefly.
    ("sessions", 5 * MIN, 1, 3, 7),
    # Point-in-time recovery: a base backup a day; each WAL segment is kept as long as the base backups.
    ("basebackup", DAY, 7, 30, 90),
    ("wal", DAY, 7, 30, 90),
]
# Kinds no schedule takes: the WAL receiver ships WAL segments as they complete.
UNSCHEDULED = ("wal",)

# Housekeeping schedules besides one backup per policy: name, task, every.
HOUSEKEEPING = [
    ("backups: prune", "backups.tasks.backups_prune", DAY),
    ("backups: verify latest (restore test)", "backups.tasks.backups_verify_latest", DAY),
    ("backups: sweep", "backups.tasks.backups_sweep", MIN),
    ("backups: PITR slot guard", "backups.tasks.pitr_slot_guard", MIN),
]


def seed_policies(apps) -> None:
    """Backup policies and their django-celery-beat periodic tasks (existing rows are kept)."""

    BackupPolicy = apps.get_model("backups", "BackupPolicy")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")

    def every(seconds: int):
        schedule, _ = IntervalSchedule.objects.get_or_create(every=seconds, period="seconds")
        return schedule

    for kind, every_s, local, cloud, archive in POLICIES:
        policy, _ = BackupPolicy.objects.get_or_create(
            kind=kind, defaults={"every_s": every_s, "local_days": local, "cloud_days": cloud, "archive_days": archive}
        )
        if kind in UNSCHEDULED:
            continue
        PeriodicTask.objects.get_or_create(
            name=f"backups: {kind}",
            defaults={
                "task": "backups.tasks.backup_scheduled",
                "interval": every(policy.every_s),
                "kwargs": json.dumps({"kind": kind}),
                "queue": "long",
                "description": f"The runbook's {kind} backup (retention in Backups › Backup policies).",
            },
        )
    for name, task, every_s in HOUSEKEEPING:
        PeriodicTask.objects.get_or_create(name=name, defaults={"task": task, "interval": every(every_s)})


# The data types with an RPO: a new install backs them up as soon as beat first runs, instead of
# waiting one interval (six hours for the database) with no backup at all. `full` keeps its week.
FIRST_AT_ONCE = ("database", "config", "media")


def start_first_backups(apps) -> None:
    """Backup schedules that never ran start now: django-celery-beat runs a task with a start time
    and no last run at its first tick, then every interval after (existing schedules that ran keep
    their rhythm)."""

    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    names = [f"backups: {kind}" for kind in FIRST_AT_ONCE]
    PeriodicTask.objects.filter(name__in=names, last_run_at__isnull=True, start_time__isnull=True).update(
        start_time=timezone.now()
    )

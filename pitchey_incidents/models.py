"""Platform-wide records shared by every app: the event log and the audit trail."""

from __future__ import annotations

from django.db import models

from .timefmt import format_timestamp


class Event(models.Model):
    """One state change anywhere in the platform, in commit order. The live dashboard streams
    these (server-sent events resume from ``Last-Event-ID``, which is this id)."""

    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    kind = models.CharField(max_length=64)  # "incident.declared", "backup.progress", …
    subject = models.CharField(max_length=64, db_index=True)  # "incident:INC-00001", "backup:12"
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"#{self.id} {self.kind} {self.subject}"


class AuditEntry(models.Model):
    """Who did what destructive or sensitive thing, and whether it was a dry run."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.CharField(max_length=150)
    action = models.CharField(max_length=100)
    target = models.CharField(max_length=255, blank=True)
    dry_run = models.BooleanField(default=False)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{format_timestamp(self.at)} {self.actor} {self.action} {self.target}"


class UserPreference(models.Model):
    """A person's own settings: the time zone every page, report and email shows them times in."""

    user = models.OneToOneField("auth.User", on_delete=models.CASCADE, related_name="preference")
    time_zone = models.CharField(max_length=64, default="UTC")

    def __str__(self) -> str:
        return f"{self.user} ({self.time_zone})"


class WorkerHeartbeat(models.Model):
    """A worker consuming a queue said so at ``seen_at`` (one row per worker and queue, updated in
    place every ``WORKER_HEARTBEAT_S`` while its broker connection is up)."""

    hostname = models.CharField(max_length=255)
    queue = models.CharField(max_length=64, db_index=True)
    pid = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["hostname", "queue"], name="one_heartbeat_per_worker_queue")]

    def __str__(self) -> str:
        return f"{self.hostname} on {self.queue} at {format_timestamp(self.seen_at)}"


class QueueAlarm(models.Model):
    """The incident opened because a queue had no consumer (its public id), so that a queue left
    without workers opens one incident, not one per check; ``opened_at``: since when the queue has had
    none (null while a worker consumes it)."""

    queue = models.CharField(max_length=64, unique=True)
    incident = models.CharField(max_length=32, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.queue}: {self.incident or 'no incident'}"

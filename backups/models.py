"""Backups: data types with their RPO, backup policies, backups and their copies per storage tier."""

from __future__ import annotations

import uuid

from django.db import models

from pitchey_incidents.timefmt import format_duration


class DataType(models.Model):
    """A kind of data and how much of it we may lose (RPO)."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    rpo_target_s = models.PositiveIntegerField()
    rpo_max_s = models.PositiveIntegerField()
    backup_frequency = models.CharField(max_length=100, help_text="As the runbook says it.")
    backup_kind = models.CharField(
        max_length=20,
        blank=True,
        help_text="database, config or media; blank if protected by other means (e.g. continuous sync).",
    )

    class Meta:
        ordering = ["rpo_target_s", "name"]

    def __str__(self) -> str:
        return self.name


class Kind(models.TextChoices):
    DATABASE = "database"
    CONFIG = "config"
    MEDIA = "media"
    FULL = "full"
    SESSIONS = "sessions"
    BASEBACKUP = "basebackup"  # a physical base backup of the PITR target (pg_basebackup)
    WAL = "wal"  # one WAL segment of the PITR target, shipped by the WAL receiver


class Tier(models.TextChoices):
    LOCAL = "local"
    CLOUD = "cloud"
    ARCHIVE = "archive"


class Status(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Trigger(models.TextChoices):
    MANUAL = "manual"
    API = "api"
    SCHEDULE = "schedule"
    DRILL = "drill"
    IMPORT = "import"


class Compression(models.TextChoices):
    ZSTD = "zstd"
    GZIP = "gzip"


class BackupPolicy(models.Model):
    """How often a kind is backed up and how long each tier keeps it (the runbook's tables).

    Retention in days per tier; empty means kept indefinitely. Schedules live in
    django-celery-beat's periodic tasks (seeded from these rows, editable in the admin)."""

    kind = models.CharField(max_length=20, choices=Kind.choices, unique=True)
    every_s = models.PositiveIntegerField(help_text="How often the schedule takes one (seconds).")
    local_days = models.PositiveIntegerField(null=True, blank=True)
    cloud_days = models.PositiveIntegerField(null=True, blank=True)
    archive_days = models.PositiveIntegerField(null=True, blank=True)
    compression = models.CharField(max_length=10, choices=Compression.choices, default=Compression.ZSTD)
    level = models.PositiveSmallIntegerField(default=3)

    class Meta:
        verbose_name_plural = "backup policies"
        ordering = ["kind"]

    def __str__(self) -> str:
        return f"{self.kind} every {format_duration(self.every_s)}"

    def retention_days(self, tier: str) -> int | None:
        return getattr(self, f"{tier}_days")


class Backup(models.Model):
    """One backup: a set of files described by one manifest, copied to one or more tiers."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED, db_index=True)
    trigger = models.CharField(max_length=20, choices=Trigger.choices, default=Trigger.MANUAL)
    requested_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    snapshot_at = models.DateTimeField(null=True, blank=True, help_text="The data is as of this time (RPO anchor).")
    # The primary artifact (the database dump for database and full backups); every file is in the manifest.
    artifact = models.CharField(max_length=255, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True, help_text="Stored bytes, all files.")
    uncompressed_bytes = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the stored primary artifact.")
    compression = models.CharField(max_length=10, choices=Compression.choices, default=Compression.ZSTD)
    compression_level = models.PositiveSmallIntegerField(default=3)
    format = models.CharField(max_length=40, blank=True)
    progress = models.JSONField(default=dict, blank=True)
    manifest = models.JSONField(default=dict, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    verification = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["kind", "status", "-snapshot_at"])]

    def __str__(self) -> str:
        return f"backup {self.id} {self.kind} {self.status}"

    @property
    def subject(self) -> str:
        return f"backup:{self.id}"


class BackupLocation(models.Model):
    """One stored copy of a backup in one tier, with its own verification."""

    backup = models.ForeignKey(Backup, on_delete=models.CASCADE, related_name="locations")
    tier = models.CharField(max_length=20, choices=Tier.choices)
    uri = models.CharField(max_length=1000, help_text="Where the primary artifact is; the manifest sits beside it.")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: kept indefinitely.")
    verified_at = models.DateTimeField(null=True, blank=True)
    verification = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["backup_id", "tier"]
        constraints = [models.UniqueConstraint(fields=["backup", "tier"], name="backup_location_one_per_tier")]

    def __str__(self) -> str:
        return f"{self.tier}: {self.uri}"


class TargetLock(models.Model):
    """Held while a backup reads a target, so two backups of the same target never run at once."""

    target = models.CharField(max_length=255, unique=True)
    backup = models.ForeignKey(Backup, on_delete=models.CASCADE, related_name="locks")
    acquired_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.target


class RetentionPause(models.Model):
    """While any unexpired row exists, pruning does nothing (a restore or drill is reading backups)."""

    reason = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(help_text="A crashed holder cannot pause retention forever.")

    def __str__(self) -> str:
        return self.reason


class Restore(models.Model):
    """One restore of a backup (all its parts, or what ``into`` names), followed like a backup.

    ``journal`` lists every destination being replaced (staging path, staged inode) while files
    move, so a sweeper can put the previous content back after a worker died."""

    backup = models.ForeignKey(Backup, on_delete=models.CASCADE, related_name="restores")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED, db_index=True)
    dry_run = models.BooleanField(default=False)
    force = models.BooleanField(default=False)
    into = models.CharField(max_length=1000, blank=True, help_text="Empty: the configured targets.")
    parts = models.JSONField(default=list, blank=True, help_text="Only these parts (e.g. media of a full); empty: all.")
    to_time = models.CharField(
        max_length=64, blank=True, help_text="A point-in-time restore: the moment (ISO 8601) or 'latest'; else empty."
    )
    port = models.PositiveIntegerField(null=True, blank=True, help_text="A point-in-time restore's new server port.")
    database_url = models.CharField(max_length=1000, blank=True, help_text="Cleared when the restore finishes.")
    requested_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    changes = models.JSONField(default=dict, blank=True, help_text="{added, replaced, removed}: paths.")
    journal = models.JSONField(default=list, blank=True)
    result = models.JSONField(default=dict, blank=True)
    progress = models.JSONField(default=dict, blank=True)
    detail = models.TextField(blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"restore {self.id} of backup {self.backup_id} {self.status}"

    @property
    def subject(self) -> str:
        return f"restore:{self.id}"


class WalStream(models.Model):
    """The continuous WAL stream from one replication slot: where it is, how far behind, and any gap.

    Written by the WAL receiver (``manage.py wal_receiver``) and the slot guard; read by the RPO
    panel and the ``backup_rpo`` probe."""

    slot = models.CharField(max_length=63, unique=True)
    state = models.CharField(max_length=20, default="new", help_text="new, streaming, stopped, dropped")
    detail = models.CharField(max_length=500, blank=True)
    slot_created_at = models.DateTimeField(null=True, blank=True)
    received_lsn = models.CharField(max_length=20, blank=True, help_text="The slot's position: WAL flushed here.")
    synced_at = models.DateTimeField(
        null=True, blank=True, help_text="Every byte the server had written at this time was received (RPO anchor)."
    )
    lag_bytes = models.BigIntegerField(null=True, blank=True, help_text="WAL the server keeps for this slot.")
    checked_at = models.DateTimeField(null=True, blank=True)
    receiver_pid = models.IntegerField(null=True, blank=True)
    receiver_seen_at = models.DateTimeField(null=True, blank=True)
    gap_at = models.DateTimeField(null=True, blank=True, help_text="When WAL was last lost (slot dropped or deleted).")
    gap_detail = models.CharField(max_length=500, blank=True)

    def __str__(self) -> str:
        return f"WAL stream {self.slot} ({self.state})"

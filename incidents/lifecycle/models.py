"""The incident lifecycle: severity policies, escalation levels, incidents, timeline, mitigations.

The service catalog (services, their RTO and recovery order) and the severities are recovery's
(``recovery.models``): incidents link to it.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from pitchey_incidents.timefmt import format_duration
from recovery.models import Service, Severity


class SeverityPolicy(models.Model):
    """The runbook's severity levels: response time, auto-page and the Slack channel."""

    severity = models.CharField(max_length=2, choices=Severity.choices, unique=True)
    name = models.CharField(max_length=50)
    description = models.CharField(max_length=200, blank=True)
    examples = models.CharField(max_length=300, blank=True)
    response_time_s = models.PositiveIntegerField(help_text="Acknowledge within this many seconds.")
    auto_page = models.BooleanField()
    slack_channel = models.CharField(max_length=80)

    class Meta:
        ordering = ["severity"]
        verbose_name_plural = "severity policies"

    def __str__(self) -> str:
        return f"{self.severity} – {self.name}"

    @property
    def response_time(self) -> timedelta:
        return timedelta(seconds=self.response_time_s)


class EscalationLevel(models.Model):
    """The runbook's escalation policy: who is paged, and how long after declaration."""

    level = models.PositiveSmallIntegerField(unique=True)
    name = models.CharField(max_length=80)
    delay_s = models.PositiveIntegerField(help_text="Seconds after declaration, while unacknowledged.")

    class Meta:
        ordering = ["level"]

    def __str__(self) -> str:
        return f"{self.level}. {self.name} (+{format_duration(self.delay_s)})"


class Status(models.TextChoices):
    TRIGGERED = "triggered", "Triggered"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    MITIGATING = "mitigating", "Mitigating"
    MONITORING = "monitoring", "Monitoring"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"


OPEN_STATUSES = (Status.TRIGGERED, Status.ACKNOWLEDGED, Status.MITIGATING, Status.MONITORING)


class PublicStatus(models.TextChoices):
    INVESTIGATING = "investigating", "Investigating"
    IDENTIFIED = "identified", "Identified"
    MONITORING = "monitoring", "Monitoring"
    RESOLVED = "resolved", "Resolved"


class Source(models.TextChoices):
    MANUAL = "manual", "Manual"
    API = "api", "API"
    ALERTMANAGER = "alertmanager", "Alertmanager"
    GRAFANA = "grafana", "Grafana"
    GENERIC = "generic", "Generic webhook"
    PROBE = "probe", "Probe"


class IncidentQuerySet(models.QuerySet):
    def open(self):
        return self.filter(status__in=OPEN_STATUSES)


class Incident(models.Model):
    # The auto-increment key is the public number, so ids are unique under any concurrency.
    id = models.BigAutoField(primary_key=True)
    severity = models.CharField(max_length=2, choices=Severity.choices, db_index=True)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.TRIGGERED, db_index=True)
    public_status = models.CharField(max_length=20, choices=PublicStatus.choices, default=PublicStatus.INVESTIGATING)
    services = models.ManyToManyField(Service, related_name="incidents", blank=True)
    commander = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="commanded_incidents"
    )
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.MANUAL)
    declared_by = models.CharField(max_length=150, default="system")
    detected_at = models.DateTimeField(null=True, blank=True, help_text="First alert or finding, for MTTD.")
    declared_at = models.DateTimeField(default=timezone.now, db_index=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    mitigated_at = models.DateTimeField(null=True, blank=True, help_text="First move to monitoring.")
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    escalation_level = models.PositiveSmallIntegerField(default=0)
    resolution = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = IncidentQuerySet.as_manager()

    class Meta:
        ordering = ["-declared_at", "-id"]
        indexes = [models.Index(fields=["status", "-declared_at"], name="incident_status_declared")]

    def __str__(self) -> str:
        return f"{self.public_id} {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("incidents:detail", args=[self.public_id])

    @property
    def public_id(self) -> str:
        return format_public_id(self.id)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def subject(self) -> str:
        return f"incident:{self.public_id}"


def format_public_id(number: int) -> str:
    return f"INC-{number:05d}"


def parse_public_id(value: str) -> int | None:
    """``INC-00042`` (or ``42``) → 42; anything else → None."""
    text = str(value).strip().upper()
    if text.startswith("INC-"):
        text = text[4:]
    return int(text) if text.isdigit() and len(text) < 18 else None


class TimelineEntry(models.Model):
    """Append-only: what happened to an incident, when, and who did it."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="timeline")
    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=40)
    actor = models.CharField(max_length=150)
    message = models.TextField()
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["incident", "at", "id"], name="timeline_incident_at")]
        verbose_name_plural = "timeline entries"

    def __str__(self) -> str:
        return f"{self.at:%H:%M:%S} {self.kind} {self.actor}: {self.message[:60]}"


class MitigationStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Mitigation(models.Model):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="mitigations")
    action = models.CharField(max_length=64)
    params = models.JSONField(default=dict, blank=True)
    dry_run = models.BooleanField(default=False)
    status = models.CharField(
        max_length=10, choices=MitigationStatus.choices, default=MitigationStatus.QUEUED, db_index=True
    )
    requested_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    output = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.action} on {self.incident.public_id} ({self.status})"

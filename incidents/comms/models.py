"""Communications data: the communication matrix (per severity, and per incident), emergency
contacts, the notification outbox, escalation targets and timers, and on-call rotations.

Imported by ``incidents.models`` so that Django registers these models with the app.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from incidents.lifecycle.models import EscalationLevel, Incident, SeverityPolicy


class Audience(models.TextChoices):
    INTERNAL = "internal", "Internal"
    EXTERNAL = "external", "External"
    STATUS_PAGE = "status_page", "Status page"
    CUSTOMER_EMAIL = "customer_email", "Customer email"


class Requirement(models.TextChoices):
    REQUIRED = "required", "Required"
    OPTIONAL = "optional", "Optional"
    NONE = "none", "Not sent"


class CommunicationRule(models.Model):
    """One cell of the runbook's communication matrix: who must hear, and by when."""

    policy = models.ForeignKey(SeverityPolicy, on_delete=models.CASCADE, related_name="communications")
    audience = models.CharField(max_length=20, choices=Audience.choices)
    requirement = models.CharField(max_length=10, choices=Requirement.choices, default=Requirement.REQUIRED)
    due_s = models.PositiveIntegerField(null=True, blank=True, help_text="Seconds after declaration; 0 = immediate.")

    class Meta:
        ordering = ["policy__severity", "audience"]
        constraints = [models.UniqueConstraint(fields=["policy", "audience"], name="one_rule_per_audience")]

    def __str__(self) -> str:
        return f"{self.policy.severity} {self.audience}: {self.requirement} {self.due_s}"


class EmergencyContact(models.Model):
    role = models.CharField(max_length=80, unique=True)
    contact = models.CharField(max_length=200)
    availability = models.CharField(max_length=80)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "role"]

    def __str__(self) -> str:
        return self.role


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    # The worker died while the request was on the wire to a channel that cannot de-duplicate:
    # the vendor may or may not have it, and re-sending could show it twice. Shown to humans.
    UNCONFIRMED = "unconfirmed", "Unconfirmed"


FINISHED_NOTIFICATION_STATUSES = (NotificationStatus.SENT, NotificationStatus.FAILED, NotificationStatus.UNCONFIRMED)


class Notification(models.Model):
    """One message to one channel target: the outbox row, written with the change that needs it.

    ``in_flight`` is committed just before the request leaves, so a row whose lease expired tells
    whether the vendor may already have it."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="notifications", null=True)
    channel = models.CharField(max_length=20)  # a key of incidents.channels.REGISTRY
    target = models.CharField(max_length=40, blank=True)  # e.g. Slack route "critical"; never a secret
    kind = models.CharField(max_length=40)  # declared, acknowledged, status_update, page, reminder, …
    audience = models.CharField(max_length=20, choices=Audience.choices, blank=True)
    context = models.JSONField(default=dict, blank=True)  # snapshot the message is rendered from
    status = models.CharField(
        max_length=12, choices=NotificationStatus.choices, default=NotificationStatus.PENDING, db_index=True
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_until = models.DateTimeField(null=True, blank=True)
    in_flight = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response = models.JSONField(default=dict, blank=True)  # what later messages need, e.g. a Statuspage id

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="notification_due"),
            models.Index(fields=["incident", "channel", "target", "id"], name="notification_stream"),
        ]

    def __str__(self) -> str:
        return f"{self.channel}{':' + self.target if self.target else ''} {self.kind} ({self.status})"

    @property
    def label(self) -> str:
        return f"{self.channel}:{self.target}" if self.target else self.channel


class CommunicationDue(models.Model):
    """One required (or optional) communication for one incident, from the communication matrix."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="communications_due")
    audience = models.CharField(max_length=20, choices=Audience.choices)
    requirement = models.CharField(max_length=10, choices=Requirement.choices)
    due_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    sent_via = models.CharField(max_length=60, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at", "audience"]
        constraints = [models.UniqueConstraint(fields=["incident", "audience"], name="one_due_per_audience")]

    def __str__(self) -> str:
        return f"{self.incident_id} {self.audience} due {self.due_at}"

    @property
    def overdue(self) -> bool:
        return self.sent_at is None and self.due_at is not None and self.due_at < timezone.now()


class OnCallRotation(models.Model):
    """Ordered members take turns of ``shift_s`` seconds, starting at ``handoff_at``; overrides win."""

    name = models.CharField(max_length=80, unique=True)
    handoff_at = models.DateTimeField(help_text="A handoff time: the first member's shift starts here.")
    shift_s = models.PositiveIntegerField(default=7 * 86400, help_text="Length of one shift in seconds.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def shift_at(self, at: datetime) -> tuple[int, datetime, datetime]:
        """(shift number, its start, its end) of the shift that contains ``at``."""
        length = timedelta(seconds=max(1, self.shift_s))
        number = (at - self.handoff_at) // length
        start = self.handoff_at + number * length
        return number, start, start + length


class OnCallMember(models.Model):
    rotation = models.ForeignKey(OnCallRotation, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["rotation", "position", "id"]

    def __str__(self) -> str:
        return f"{self.rotation}: {self.position}. {self.user}"


class OnCallOverride(models.Model):
    """Someone covers a rotation for a while (a swap, a holiday)."""

    rotation = models.ForeignKey(OnCallRotation, on_delete=models.CASCADE, related_name="overrides")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()

    class Meta:
        ordering = ["rotation", "starts_at"]
        indexes = [models.Index(fields=["rotation", "starts_at", "ends_at"], name="oncall_override_span")]

    def __str__(self) -> str:
        return f"{self.rotation}: {self.user} {self.starts_at:%Y-%m-%d %H:%M}–{self.ends_at:%H:%M}"


class EscalationTarget(models.Model):
    """Whom an escalation level pages: a person, or whoever is on call in a rotation."""

    level = models.ForeignKey(EscalationLevel, on_delete=models.CASCADE, related_name="targets")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    rotation = models.ForeignKey(OnCallRotation, null=True, blank=True, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=False) | models.Q(rotation__isnull=False),
                name="escalation_target_user_or_rotation",
            )
        ]

    def __str__(self) -> str:
        return f"{self.level}: {self.user or self.rotation}"


class EscalationTimer(models.Model):
    """A level's due time for one incident. Beat fires due rows, claimed by a conditional update."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="escalation_timers")
    level = models.PositiveSmallIntegerField()
    due_at = models.DateTimeField()
    fired_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at", "level"]
        constraints = [models.UniqueConstraint(fields=["incident", "level"], name="one_timer_per_level")]
        indexes = [models.Index(fields=["fired_at", "cancelled_at", "due_at"], name="escalation_timer_due")]

    def __str__(self) -> str:
        return f"{self.incident_id} level {self.level} at {self.due_at}"

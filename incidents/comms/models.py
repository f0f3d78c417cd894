"""Communications data: the communication matrix (per severity, and per incident), emergency
contacts, the notification outbox, escalation targets and timers, and on-call rotations.

Imported by ``incidents.models`` so that Django registers these models with the app.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from incidents.lifecycle.models import OPEN_STATUSES, EscalationLevel, Incident, SeverityPolicy
from pitchey_incidents.timefmt import format_duration


class Audience(models.TextChoices):
    INTERNAL = "internal", "Internal"
    EXTERNAL = "external", "External"
    STATUS_PAGE = "status_page", "Status page"
    CUSTOMER_EMAIL = "customer_email", "Customer email"


class Requirement(models.TextChoices):
    REQUIRED = "required", "Required"
    OPTIONAL = "optional", "Optional"
    NONE = "none", "Not sent"


# The channel that tells each audience. The status page always has the built-in /status/, and the
# external update is a person's public status update, so neither can be "not configured".
AUDIENCE_CHANNEL = {Audience.INTERNAL: "slack", Audience.CUSTOMER_EMAIL: "email"}
BY_HAND = "by hand"  # sent_via of a communication a commander marked as sent
ON_TIME_SLACK_S = 60  # deadlines are minutes; a post within the minute is on time


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
    # A page to a person that was no longer needed: someone acknowledged first.
    CANCELLED = "cancelled", "Cancelled"


FINISHED_NOTIFICATION_STATUSES = (
    NotificationStatus.SENT,
    NotificationStatus.FAILED,
    NotificationStatus.UNCONFIRMED,
    NotificationStatus.CANCELLED,
)


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
        if self.channel == "person":  # a page to one person through one of their methods
            return f"{self.context.get('person', '?')} by {self.context.get('method_label', self.target)}"
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
        """Due, not sent, the incident still open, and a channel to send it on."""
        return self.state()["state"] == "overdue"  # (a minute's grace, as for "on time")

    def unconfigured(self) -> str:
        """The variable to set when nothing here can send to this audience; empty when something can."""
        channel = AUDIENCE_CHANNEL.get(self.audience)
        if channel is None:
            return ""
        from incidents.comms.channels import REGISTRY

        impl = REGISTRY[channel]
        return "" if impl.enabled() else impl.requires

    def state(self, now: datetime | None = None) -> dict:
        """How this communication stands, honestly: ``{state, text, countdown}``.

        sent (on time, or late by …; marked by hand says so) · not_configured (never overdue) ·
        stopped (not sent, the incident is resolved: no countdown) · overdue · pending (due in …).
        A communication sent within a minute of its due time counts as on time."""
        now = now or timezone.now()
        if self.sent_at is not None:
            late = (self.sent_at - self.due_at).total_seconds() if self.due_at else 0
            how = "marked sent by hand" if self.sent_via.startswith(BY_HAND) else "sent"
            when = "on time" if late < ON_TIME_SLACK_S else f"late by {format_duration(late)}"
            return {"state": "sent", "text": f"{how} {when}", "countdown": False}
        hint = self.unconfigured()
        if hint:
            return {"state": "not_configured", "text": f"not configured (set {hint})", "countdown": False}
        if self.incident.status not in OPEN_STATUSES:
            return {"state": "stopped", "text": "not sent (incident resolved)", "countdown": False}
        if self.due_at is None:
            return {"state": "pending", "text": "not sent yet", "countdown": False}
        left = (self.due_at - now).total_seconds()
        if -ON_TIME_SLACK_S < left <= 0:
            return {"state": "pending", "text": "due now", "countdown": False}
        if left < 0:
            return {"state": "overdue", "text": f"overdue by {format_duration(-left)}", "countdown": True}
        return {"state": "pending", "text": f"due in {format_duration(left)}", "countdown": True}


class OnCallRotation(models.Model):
    """Ordered members take turns of ``shift_s`` seconds, starting at ``handoff_at``; overrides win."""

    name = models.CharField(max_length=80, unique=True)
    handoff_at = models.DateTimeField(help_text="A handoff time: the first member's shift starts here.")
    shift_s = models.PositiveIntegerField(default=7 * 86400, help_text="Length of one shift in seconds.")
    # The shift whose person was last told they are on call (the handoff notification).
    handoff_notified_shift = models.IntegerField(null=True, blank=True)

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


# --- people: how each person is paged ------------------------------------------------------------------


class ContactKind(models.TextChoices):
    EMAIL = "email", "Email"
    PUSH = "push", "Push (ntfy)"
    SMS = "sms", "SMS"
    SLACK = "slack", "Slack mention"
    WEBHOOK = "webhook", "Personal webhook"


class ContactMethod(models.Model):
    """One way of reaching one person. Paged only once verified (a test message with a code came
    back), and not after a permanent failure (an invalid number, a topic that does not exist) until
    verified again.

    ``address`` is the email address, the ntfy topic, the phone number (+E.164), the Slack user ID
    or the webhook URL; ``server`` the ntfy server's base URL; ``token`` an ntfy access token (never
    shown back)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="contact_methods")
    kind = models.CharField(max_length=10, choices=ContactKind.choices)
    address = models.CharField(max_length=300)
    server = models.URLField(blank=True)
    token = models.CharField(max_length=200, blank=True)
    verification_code = models.CharField(max_length=12, blank=True)
    verification_sent_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    failure = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["user", "kind", "id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "kind", "address"], name="one_contact_method_per_address")
        ]

    def __str__(self) -> str:
        return f"{self.user}: {self.get_kind_display()} {self.display_address}"

    @property
    def pageable(self) -> bool:
        return self.verified_at is not None and self.failed_at is None

    @property
    def display_address(self) -> str:
        if self.kind == ContactKind.WEBHOOK:
            return self.address.split("?")[0][:60]
        if self.kind == ContactKind.PUSH:
            return f"{self.server.rstrip('/')}/{self.address}"
        return self.address


class Urgency(models.TextChoices):
    HIGH = "high", "High urgency"
    LOW = "low", "Low urgency"


class NotificationRule(models.Model):
    """A person's own rule: on a page of this urgency, use this method this long after the page,
    if nobody has acknowledged by then. A person without rules for an urgency gets the default:
    push and email at once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_rules")
    urgency = models.CharField(max_length=4, choices=Urgency.choices)
    method = models.ForeignKey(ContactMethod, on_delete=models.CASCADE, related_name="rules")
    delay_s = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["user", "urgency", "delay_s", "id"]

    def __str__(self) -> str:
        return f"{self.user} {self.urgency}: {self.method} +{self.delay_s}s"


class UsedLink(models.Model):
    """A page link that was used: each link acts once."""

    digest = models.CharField(max_length=64, unique=True)
    purpose = models.CharField(max_length=20)
    used_at = models.DateTimeField(default=timezone.now)
    used_by = models.CharField(max_length=150)

    def __str__(self) -> str:
        return f"{self.purpose} link used by {self.used_by} at {self.used_at}"


class CalendarFeed(models.Model):
    """A secret-token iCalendar feed of a person's or a rotation's shifts; revoked, it stops working."""

    token = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="calendar_feeds"
    )
    rotation = models.ForeignKey(
        OnCallRotation, null=True, blank=True, on_delete=models.CASCADE, related_name="calendar_feeds"
    )
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=False) | models.Q(rotation__isnull=False),
                name="calendar_feed_user_or_rotation",
            )
        ]

    def __str__(self) -> str:
        return f"calendar of {self.user or self.rotation}{' (revoked)' if self.revoked_at else ''}"

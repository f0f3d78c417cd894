"""After the incident: the post-mortem, its four runbook deadlines, and action items.

Imported by ``incidents.models`` so that Django registers these models with the app.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from pitchey_incidents.timefmt import format_timestamp

# The runbook's "Continuous Improvement" promises, counted from the moment the incident resolves.
DEADLINES: tuple[tuple[str, str, timedelta], ...] = (
    ("initial_report", "Initial incident report", timedelta(hours=24)),
    ("meeting_scheduled", "Post-mortem meeting scheduled", timedelta(hours=72)),
    ("complete", "Post-mortem complete", timedelta(days=7)),
    ("action_items", "Action items implemented", timedelta(days=14)),
)
DEADLINE_LABELS = {name: label for name, label, _ in DEADLINES}
ACTION_ITEM_DEFAULT_DUE = timedelta(days=14)

# Editable sections, in the order the document shows them.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("summary", "Summary"),
    ("impact", "Impact"),
    ("root_cause", "Root cause"),
    ("contributing_factors", "Contributing factors"),
    ("what_went_well", "What went well"),
    ("what_went_badly", "What went badly"),
    ("lessons", "Lessons learned"),
)
SECTION_NAMES = tuple(name for name, _ in SECTIONS)


class PostMortemStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    COMPLETE = "complete", "Complete"


class PostMortem(models.Model):
    """One per incident, opened when it resolves; its sections start pre-filled from the record."""

    incident = models.OneToOneField("incidents.Incident", on_delete=models.CASCADE, related_name="postmortem")
    status = models.CharField(max_length=10, choices=PostMortemStatus.choices, default=PostMortemStatus.DRAFT)
    summary = models.TextField(blank=True)
    impact = models.TextField(blank=True)
    root_cause = models.TextField(blank=True)
    contributing_factors = models.TextField(blank=True)
    what_went_well = models.TextField(blank=True)
    what_went_badly = models.TextField(blank=True)
    lessons = models.TextField(blank=True)
    meeting_at = models.DateTimeField(null=True, blank=True, help_text="When the post-mortem meeting takes place.")
    opened_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.CharField(max_length=150, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-opened_at", "-id"]

    def __str__(self) -> str:
        return f"Post-mortem of {self.incident.public_id} ({self.status})"

    def sections(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in SECTION_NAMES}

    def empty_sections(self) -> list[str]:
        return [name for name in SECTION_NAMES if not getattr(self, name).strip()]


class PostMortemDeadline(models.Model):
    """One of the four runbook deadlines; reminded once when overdue (``reminded_at`` is the claim)."""

    postmortem = models.ForeignKey(PostMortem, on_delete=models.CASCADE, related_name="deadlines")
    name = models.CharField(max_length=20, choices=[(n, label) for n, label, _ in DEADLINES])
    due_at = models.DateTimeField()
    done_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [models.UniqueConstraint(fields=["postmortem", "name"], name="one_deadline_per_name")]
        indexes = [models.Index(fields=["done_at", "reminded_at", "due_at"], name="pm_deadline_overdue")]

    def __str__(self) -> str:
        return f"{self.label} by {format_timestamp(self.due_at)}"

    @property
    def label(self) -> str:
        return DEADLINE_LABELS.get(self.name, self.name)

    def is_overdue(self, now=None) -> bool:
        return self.done_at is None and self.due_at < (now or timezone.now())


class ActionItemStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"


ACTION_ITEM_OPEN_STATUSES = (ActionItemStatus.OPEN, ActionItemStatus.IN_PROGRESS)


class ActionItem(models.Model):
    """Follow-up work from an incident, tracked to completion (runbook: within two weeks)."""

    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE, related_name="action_items")
    title = models.CharField(max_length=200)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="action_items"
    )
    due_at = models.DateTimeField()
    status = models.CharField(
        max_length=12, choices=ActionItemStatus.choices, default=ActionItemStatus.OPEN, db_index=True
    )
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.CharField(max_length=150, default="system")
    done_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [models.Index(fields=["status", "due_at"], name="action_item_status_due")]

    def __str__(self) -> str:
        return f"{self.title} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in ACTION_ITEM_OPEN_STATUSES

    def is_overdue(self, now=None) -> bool:
        return self.is_open and self.due_at < (now or timezone.now())

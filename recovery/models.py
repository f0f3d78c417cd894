"""Recovery: runtime flags the protected app polls (read-only, maintenance)."""

from __future__ import annotations

from django.db import models


class RuntimeFlag(models.Model):
    """A switch the protected application reads from ``/api/v1/flags/`` (e.g. ``READ_ONLY_MODE``)."""

    name = models.CharField(max_length=64, unique=True)
    enabled = models.BooleanField(default=False)
    changed_at = models.DateTimeField(auto_now=True)
    changed_by = models.CharField(max_length=150, blank=True)
    reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name}={'on' if self.enabled else 'off'}"

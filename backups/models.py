"""Backups: the runbook's data types with their recovery point objectives."""

from __future__ import annotations

from django.db import models


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

"""The runbook's RPO table, seeded by a data migration (existing rows are kept)."""

from __future__ import annotations

MIN, HOUR = 60, 3600

# slug, name, RPO target, RPO maximum, frequency as the runbook says it, backup kind
DATA_TYPES = [
    ("database", "Database", HOUR, 4 * HOUR, "Every 6 hours + PITR", "database"),
    ("sessions", "User Sessions", 5 * MIN, 15 * MIN, "Continuous sync", ""),
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

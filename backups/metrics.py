"""Backup and RPO metrics for /metrics: ``collect()`` yields ``(name, type, help, [(labels, value), …])``."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count, Max

from pitchey_incidents.metrics import Family

from . import selectors
from .models import Backup, Status

STATE_VALUES = {"ok": 0, "warning": 1, "breach": 2, "unknown": -1}


def collect() -> Iterator[Family]:
    yield from _rpo_families()
    yield from _catalog_families()


def _rpo_families() -> Iterator[Family]:
    rpo = selectors.rpo_status()
    yield (
        "pitchey_rpo_age_seconds",
        "gauge",
        "Age of the newest verified backup holding this data type.",
        [({"data_type": r["data_type"]}, r["age_s"]) for r in rpo if r["age_s"] is not None],
    )
    yield (
        "pitchey_rpo_target_seconds",
        "gauge",
        "RPO target per data type (the runbook's table).",
        [({"data_type": r["data_type"]}, r["target_s"]) for r in rpo],
    )
    yield (
        "pitchey_rpo_max_seconds",
        "gauge",
        "RPO maximum per data type.",
        [({"data_type": r["data_type"]}, r["max_s"]) for r in rpo],
    )
    yield (
        "pitchey_rpo_state",
        "gauge",
        "RPO state per data type: 0 ok, 1 warning (past target), 2 breach (past maximum), -1 unknown.",
        [({"data_type": r["data_type"]}, STATE_VALUES[r["state"]]) for r in rpo],
    )


def _catalog_families() -> Iterator[Family]:
    counts = Backup.objects.values("kind", "status").annotate(n=Count("id")).order_by()
    yield (
        "pitchey_backups",
        "gauge",
        "Backups in the catalog by kind and status.",
        [({"kind": c["kind"], "status": c["status"]}, c["n"]) for c in counts],
    )
    latest = (
        Backup.objects.filter(status=Status.SUCCEEDED)
        .values("kind")
        .annotate(at=Max("finished_at"), verified=Max("verified_at"))
        .order_by()
    )
    yield (
        "pitchey_backup_last_success_timestamp_seconds",
        "gauge",
        "When the newest successful backup of each kind finished (Unix time).",
        [({"kind": r["kind"]}, r["at"].timestamp()) for r in latest if r["at"]],
    )
    yield (
        "pitchey_backup_last_verified_timestamp_seconds",
        "gauge",
        "When a backup of each kind last passed verification (Unix time).",
        [({"kind": r["kind"]}, r["verified"].timestamp()) for r in latest if r["verified"]],
    )
    sizes = {}
    for kind, size in (
        Backup.objects.filter(status=Status.SUCCEEDED)
        .order_by("kind", "-finished_at")
        .values_list("kind", "size_bytes")
    ):
        sizes.setdefault(kind, size)
    yield (
        "pitchey_backup_size_bytes",
        "gauge",
        "Stored size of the newest successful backup of each kind.",
        [({"kind": k}, v) for k, v in sizes.items() if v is not None],
    )

"""Engines by backup kind; ``full`` runs them all under one manifest."""

from __future__ import annotations

from .. import targets
from .base import REGISTRY, BackupFailed, Context, Engine

__all__ = ["REGISTRY", "BackupFailed", "Context", "Engine", "engines_for"]

# The engines each backup kind runs, in order; "database" is the engine the target database needs.
KINDS = {
    "database": ("database",),
    "config": ("config",),
    "media": ("media",),
    "full": ("database", "config", "media"),
    "sessions": ("sessions",),
    "basebackup": ("basebackup",),
}


def engines_for(kind: str) -> list[Engine]:
    if kind not in KINDS:
        raise BackupFailed(f"a {kind} backup is not taken by an engine")
    return [REGISTRY[_database_engine() if name == "database" else name] for name in KINDS[kind]]


def _database_engine() -> str:
    return "postgres" if targets.is_postgres(targets.database_url()) else "sqlite"

"""Engines by backup kind; ``full`` runs them all under one manifest."""

from __future__ import annotations

from .base import BackupFailed, Context, Engine
from .database import database_engine
from .files import ConfigEngine, MediaEngine

__all__ = ["BackupFailed", "Context", "Engine", "engines_for"]


def engines_for(kind: str) -> list[Engine]:
    registry = {
        "database": lambda: [database_engine()],
        "config": lambda: [ConfigEngine()],
        "media": lambda: [MediaEngine()],
        "full": lambda: [database_engine(), ConfigEngine(), MediaEngine()],
    }
    return registry[kind]()

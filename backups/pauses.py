"""Pausing retention while backups are being read (a restore, a drill, a verification).

Its own module so that both the services (which prune) and the restore (which reads) use it, and
neither has to import the other for it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta

from django.utils import timezone

from .models import RetentionPause


@contextlib.contextmanager
def retention_paused(reason: str, *, max_s: int = 6 * 3600) -> Iterator[RetentionPause]:
    """Pause pruning (in every process) while a restore or drill reads backups."""
    pause = RetentionPause.objects.create(reason=reason[:255], expires_at=timezone.now() + timedelta(seconds=max_s))
    try:
        yield pause
    finally:
        RetentionPause.objects.filter(id=pause.id).delete()

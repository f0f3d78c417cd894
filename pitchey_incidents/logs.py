"""Logging filters named in ``settings.LOGGING``. Kept free of Django imports: settings load it."""

from __future__ import annotations

import logging


class RefusalsOnOneLine(logging.Filter):
    """A 4xx (a 403 above all) is the client's doing, not a fault of ours: one line, no traceback.

    Django logs a ``PermissionDenied`` with the exception attached, which wrote a full traceback for
    every refused request; the line itself (``Forbidden (Permission denied): /path``) is kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and 400 <= status < 500:
            record.exc_info = None
            record.exc_text = None
        return True

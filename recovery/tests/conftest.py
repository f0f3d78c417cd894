"""Fixtures of the emergency controls' tests (defined in ``targets.py``, shared with incidents' tests)."""

from .targets import (  # noqa: F401
    cf_server,
    neon_server,
    no_outside,
    pg_protected,
    redis_server,
    unprivileged_role,
)

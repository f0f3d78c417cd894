"""Hooks the incidents app registers at ready(), so recovery can ask without importing it.

- ``resolve_incident(public_id) -> {"public_id", "declared_at", "started_at"} | None``
- ``send_test_message(text) -> {"sent": [channel], "failed": [{channel, error}], "missing": [{what, hint}]}``:
  a marked test message through every channel (communication drills)
"""

from __future__ import annotations

from collections.abc import Callable

_HOOKS: dict[str, Callable] = {}


def register(name: str, fn: Callable) -> None:
    _HOOKS[name] = fn


def get(name: str) -> Callable | None:
    return _HOOKS.get(name)

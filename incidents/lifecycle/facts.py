"""Facts about an incident that the sub-packages above lifecycle keep, for the pages that tell the
incident's whole story (the post-mortem tells what was communicated, which comms keeps).

A keeper registers a reader with ``@keeper("name")``; ``fact(incident, "name")`` asks for it without
importing the sub-package that keeps it, and gets ``default`` when nothing keeps that fact.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from incidents.lifecycle.models import Incident

Reader = Callable[[Incident], Any]
_READERS: dict[str, Reader] = {}


def keeper(name: str) -> Callable[[Reader], Reader]:
    def register(reader: Reader) -> Reader:
        if _READERS.get(name, reader) is not reader:
            raise ValueError(f"two keepers of the incident fact {name!r}")
        _READERS[name] = reader
        return reader

    return register


def fact(incident: Incident, name: str, default: Any = None) -> Any:
    reader = _READERS.get(name)
    return reader(incident) if reader is not None else default

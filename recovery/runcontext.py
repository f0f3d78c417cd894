"""The run in progress (a control or a mitigation): who runs it, for which incident, and every
request it sends or would send, secrets masked. Providers ``record`` their requests here, so a dry
run is the exact preview of the real one and the audit trail keeps what really went out."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MASK = "****"
SECRET_KEY = re.compile(r"pass|secret|token|api_?key|authorization|connection_uri", re.IGNORECASE)
# Worker secrets whose value is itself a secret (READ_ONLY_MODE's "true" is not).
SECRET_VALUES = frozenset({"DATABASE_URL"})


@dataclass
class RunContext:
    actor: str = "system"
    incident: str = ""
    requests: list[dict] = field(default_factory=list)


_current: ContextVar[RunContext | None] = ContextVar("recovery_run_context", default=None)


def current() -> RunContext:
    return _current.get() or RunContext()


@contextmanager
def running(*, actor: str, incident: str = "") -> Iterator[RunContext]:
    context = RunContext(actor=actor, incident=incident)
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def mask_url(url: str) -> str:
    """A URL without its password (and without a query string, where tokens hide)."""
    parts = urlsplit(url)
    hidden_query = bool(parts.query) and bool(SECRET_KEY.search(parts.query))
    if not parts.password and not hidden_query:
        return url  # as written: rebuilding turns sqlite:////var/db (a path) into sqlite://var/db (a host)
    netloc = parts.netloc
    if parts.password:
        netloc = netloc.replace(f":{parts.password}@", f":{MASK}@", 1)
    return urlunsplit(parts._replace(netloc=netloc, query="" if hidden_query else parts.query))


def mask_body(body: Any) -> Any:
    if isinstance(body, dict):
        hidden = body.get("name") in SECRET_VALUES
        return {
            k: MASK if SECRET_KEY.search(str(k)) or (hidden and k == "text") else mask_body(v) for k, v in body.items()
        }
    if isinstance(body, list):
        return [mask_body(item) for item in body]
    return body


def record(method: str, url: str, body: Any = None, *, sent: bool = True) -> dict:
    """Note one request of the run in progress (``sent=False``: what a dry run would send)."""
    entry = {"method": method, "url": mask_url(url), "body": mask_body(body), "sent": sent}
    context = _current.get()
    if context is not None:
        context.requests.append(entry)
    return entry

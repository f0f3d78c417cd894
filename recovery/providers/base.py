from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar

from django.conf import settings

from pitchey_incidents.errors import DomainError
from pitchey_incidents.http import TransportError
from pitchey_incidents.jobs import backoff_delay
from pitchey_incidents.outcome import Outcome
from pitchey_incidents.registry import Registry


class Provider:
    """One system we act on. Subclasses define ``do_<action>(*, dry_run, **params) -> Outcome``."""

    name: ClassVar[str]
    label: ClassVar[str] = ""
    # Actions that may safely run twice (e.g. after a worker died in the middle of one).
    idempotent: ClassVar[frozenset[str]] = frozenset()

    def available(self) -> tuple[bool, str]:
        return True, ""

    def actions(self) -> list[str]:
        return sorted(n[3:] for n in dir(self) if n.startswith("do_"))

    def has_action(self, action: str) -> bool:
        return callable(getattr(self, f"do_{action}", None))

    def run(self, action: str, params: dict | None = None, *, dry_run: bool = False) -> Outcome:
        ok, why = self.available()
        if not ok:
            missing = {"what": self.label or self.name, "hint": why}
            return Outcome(False, f"{self.name} not configured: {why}", {"missing": missing}, skipped=True)
        method: Callable[..., Outcome] = getattr(self, f"do_{action}")
        try:
            return method(dry_run=dry_run, **(params or {}))
        except TypeError as exc:
            return Outcome(False, f"bad parameters for {self.name}.{action}: {exc}")
        except TransportError as exc:
            return Outcome(False, exc.message, {"status": exc.status, "permanent": exc.permanent})


class ApiProvider(Provider):
    """An HTTP API provider: retries 429/5xx with backoff (``Retry-After`` as a floor), a bounded number of times."""

    def _with_retries(self, send: Callable[[], Any]) -> Any:
        attempts = settings.PROVIDER_HTTP_ATTEMPTS
        for attempt in range(attempts):
            try:
                return send()
            except TransportError as exc:
                if exc.permanent or attempt == attempts - 1:
                    raise
                delay = backoff_delay(attempt, base=settings.PROVIDER_RETRY_BASE_S, cap=30, retry_after=exc.retry_after)
                time.sleep(min(delay, 60))
        raise AssertionError("unreachable")


REGISTRY: Registry[Provider] = Registry(
    "provider",
    package=__package__,
    modules=(
        "backup",
        "cloudflare",
        "command",
        "detection",
        "flags",
        "http",
        "neon",
        "notify",
        "pitr",
        "postgres",
        "probe",
        "redis",
        "restore",
    ),
)
register = REGISTRY.register


def parse_action(spec: str, *, field_name: str = "action") -> tuple[Provider, str]:
    provider_name, _, action = str(spec).partition(".")
    provider = REGISTRY.get(provider_name)
    if provider is None or not provider.has_action(action):
        raise DomainError(f"unknown provider action {spec!r}", field=field_name)
    return provider, action


def get_provider(name: str) -> Provider:
    return REGISTRY[name]


def run_action(spec: str, params: dict | None = None, *, dry_run: bool = False) -> Outcome:
    provider, action = parse_action(spec)
    return provider.run(action, params, dry_run=dry_run)

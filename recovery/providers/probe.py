"""Damage assessment: every configured health check at once, read-only; never fails the step."""

from __future__ import annotations

from django.conf import settings

from .base import REGISTRY, Outcome, Provider, register

CHECKS = [("database", "postgres", "health", {}), ("cache", "redis", "health", {})]


def checks() -> list[tuple[str, str, str, dict]]:
    http = [(svc, "http", "verify", {"service": svc}) for svc in sorted(settings.SERVICE_HEALTH_URLS)]
    return CHECKS + http


def assess() -> dict[str, dict]:
    """{check name: {ok, skipped, output}} for every health check (used before and after drills too)."""
    results = {}
    for service, provider, action, params in checks():
        outcome = REGISTRY[provider].run(action, params)
        results[f"{service}:{provider}"] = {"ok": outcome.ok, "skipped": outcome.skipped, "output": outcome.output}
    return results


@register
class Probe(Provider):
    name = "probe"
    label = "Damage assessment"
    idempotent = frozenset({"assess", "steady_state"})

    def do_assess(self, *, dry_run: bool) -> Outcome:
        results = assess()
        down = sorted(k for k, v in results.items() if not v["ok"] and not v["skipped"])
        checked = sum(1 for v in results.values() if not v["skipped"])
        summary = f"{checked} check(s): " + (f"down: {', '.join(down)}" if down else "all answering")
        return Outcome(True, summary, {"checks": results, "down": down})

    def do_steady_state(self, *, dry_run: bool) -> Outcome:
        """Chaos-Toolkit style hypothesis: every configured check answers."""
        results = assess()
        down = sorted(k for k, v in results.items() if not v["ok"] and not v["skipped"])
        return Outcome(
            not down,
            "steady state holds" if not down else f"steady state broken: {', '.join(down)}",
            {"checks": results, "down": down},
        )

"""Verify an HTTP endpoint: expected status within a latency budget (a service's health URL)."""

from __future__ import annotations

import time

from django.conf import settings

from pitchey_incidents import http
from pitchey_incidents.http import TransportError

from .base import Outcome, Provider, register


@register
class Http(Provider):
    name = "http"
    label = "HTTP endpoint"
    idempotent = frozenset({"verify"})

    def do_verify(
        self, *, dry_run: bool, url: str = "", service: str = "", expect_status: int = 200, budget_ms: int = 1000
    ) -> Outcome:
        url = url or settings.SERVICE_HEALTH_URLS.get(service, "")
        if not url:
            what = f"health URL of {service or 'this step'}"
            missing = {"what": what, "hint": f"set SERVICE_HEALTH_URLS={service or 'SERVICE'}=https://…"}
            return Outcome(False, f"no {what} (SERVICE_HEALTH_URLS)", {"missing": missing}, skipped=True)
        shown = http._safe(url)
        if dry_run:
            return Outcome(True, f"would check {shown} for HTTP {expect_status} within {budget_ms} ms")
        started = time.monotonic()
        try:
            resp = http.request("GET", url, timeout=max(budget_ms / 1000 * 3, 2), ok=(int(expect_status),))
        except TransportError as exc:
            return Outcome(False, exc.message, {"url": shown, "status": exc.status})
        latency_ms = round((time.monotonic() - started) * 1000, 1)
        ok = latency_ms <= budget_ms
        verdict = "within" if ok else "over"
        return Outcome(
            ok,
            f"{shown}: HTTP {resp.status} in {latency_ms} ms ({verdict} {budget_ms} ms)",
            {"url": shown, "status": resp.status, "latency_ms": latency_ms},
        )

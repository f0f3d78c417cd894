"""Cloudflare Workers analytics (GraphQL Analytics API): the platform Worker's requests, errors and CPU
time over a window, when Cloudflare is configured (``CF_API_TOKEN``, ``CF_ACCOUNT_ID``, ``CF_WORKER_NAME``)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from incidents.detection.models import ProbeStatus
from incidents.detection.probes.base import Outcome, ProbeCheck, Timer, register, thresholds
from pitchey_incidents.http import TransportError
from recovery.providers import get_provider


def _rfc3339(moment) -> str:
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


@register
class CloudflareCheck(ProbeCheck):
    kind = "cloudflare"

    def check(self, probe, config):
        if not (settings.CF_API_TOKEN and settings.CF_ACCOUNT_ID and (config.get("worker") or settings.CF_WORKER_NAME)):
            return Outcome.graded(ProbeStatus.SKIPPED, "set CF_API_TOKEN, CF_ACCOUNT_ID and CF_WORKER_NAME")
        until = timezone.now()
        since = config.get("since") or until - timedelta(seconds=float(config.get("window_s", 300)))
        try:
            with Timer() as t:
                totals = get_provider("cloudflare").workers_analytics(
                    _rfc3339(since), _rfc3339(until), config.get("worker", "")
                )
        except TransportError as exc:  # the analytics API, not the Worker, failed: no finding
            return Outcome.graded(ProbeStatus.SKIPPED, f"Workers analytics unavailable: {exc.message}")
        metrics = {k: v for k, v in totals.items() if v is not None}
        detail = f"{totals['requests']} request(s), {totals['errors']} error(s) ({totals['error_rate']:.2%})"
        if totals["cpu_time_p99_us"] is not None:
            detail += f", CPU p99 {totals['cpu_time_p99_us'] / 1000:.1f} ms"
        if not totals["requests"]:
            return Outcome.graded(ProbeStatus.OK, detail, t.ms, metrics)
        ok = thresholds(totals["error_rate"], maximum=config.get("max_error_rate", 0.01))
        return Outcome.graded(ProbeStatus.OK if ok else ProbeStatus.DEGRADED, detail, t.ms, metrics)

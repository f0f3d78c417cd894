"""HTTP health endpoint (``SERVICE_HEALTH_URLS``): each request is a sample row; the check reports this
request's status and latency and, over a window of samples (beat takes one every
``HEALTH_SAMPLE_INTERVAL_S``), the error rate and latency percentiles."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from django.utils import timezone

from incidents.detection.models import HealthSample, Probe, ProbeStatus
from incidents.detection.probes.base import Outcome, ProbeCheck, Timer, describe_error, register, thresholds


def health_sample(probe: Probe) -> HealthSample:
    """One request to the probe's URL, kept as a row (a refused connection is a failed sample)."""
    import requests  # here, not at the top: see ``pitchey_incidents.http.request``

    config = probe.config or {}
    expected = config.get("expect_status")
    try:
        with Timer() as t:
            resp = requests.get(config["url"], timeout=float(config.get("timeout_s", 5)), allow_redirects=False)
    except requests.RequestException as exc:
        return HealthSample.objects.create(probe=probe, ok=False, error=describe_error(exc)[:200])
    ok = resp.status_code == expected if expected else resp.status_code < 400
    return HealthSample.objects.create(probe=probe, ok=ok, status_code=resp.status_code, latency_ms=round(t.ms, 3))


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..1) of ``values``; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def window_stats(probe: Probe, since: datetime) -> dict:
    """Error rate and latency percentiles of the probe's samples taken after ``since``."""
    rows = list(HealthSample.objects.filter(probe=probe, at__gt=since).values_list("ok", "latency_ms"))
    latencies = [ms for ok, ms in rows if ms is not None]
    failed = sum(1 for ok, _ in rows if not ok)
    stats = {"samples": len(rows), "errors": failed, "error_rate": round(failed / len(rows), 4) if rows else 0.0}
    for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        value = percentile(latencies, q)
        if value is not None:
            stats[f"{name}_latency_ms"] = round(value, 3)
    return stats


def samples_prune(*, keep: timedelta) -> int:
    deleted, _ = HealthSample.objects.filter(at__lt=timezone.now() - keep).delete()
    return deleted


@register
class HttpCheck(ProbeCheck):
    kind = "http"

    def check(self, probe, config):
        if not config.get("url"):
            return Outcome.graded(ProbeStatus.SKIPPED, "no url configured")
        sample = health_sample(probe)
        since = config.get("since") or timezone.now() - timedelta(seconds=float(config.get("window_s", 300)))
        stats = window_stats(probe, since)
        metrics = {"status_code": sample.status_code, "latency_ms": sample.latency_ms, **stats}
        now = f"HTTP {sample.status_code}" if sample.status_code else sample.error
        timing = f" in {sample.latency_ms:.0f} ms" if sample.latency_ms is not None else ""
        detail = f"{now}{timing}; {stats['error_rate']:.0%} errors in {stats['samples']} sample(s)"
        if "p99_latency_ms" in stats:
            detail += f", p99 {stats['p99_latency_ms']:.0f} ms"
        if not sample.ok:
            return Outcome.graded(ProbeStatus.DOWN, detail, sample.latency_ms, metrics)
        ok = thresholds(stats["error_rate"], maximum=config.get("max_error_rate", 0.01)) and thresholds(
            stats.get("p99_latency_ms"), maximum=config.get("max_latency_ms", 1000)
        )
        return Outcome.graded(ProbeStatus.OK if ok else ProbeStatus.DEGRADED, detail, sample.latency_ms, metrics)

"""A number from Prometheus' query API (``GET /api/v1/query``): error rate, p99 latency, …"""

from __future__ import annotations

import math

import requests
from django.conf import settings

from incidents.detection.models import ProbeStatus
from incidents.detection.probes.base import Outcome, ProbeCheck, Timer, register, thresholds


class QueryError(Exception):
    pass


def instant_query(base_url: str, query: str, *, timeout: float = 5.0) -> float | None:
    """The query's single value, or None when it has no data (empty vector, NaN)."""
    resp = requests.get(f"{base_url}/api/v1/query", params={"query": query}, timeout=timeout)
    try:
        body = resp.json()
    except ValueError:
        raise QueryError(f"HTTP {resp.status_code}, not JSON") from None
    if resp.status_code != 200 or body.get("status") != "success":
        raise QueryError(f"HTTP {resp.status_code}: {body.get('errorType', '')} {body.get('error', '')}".strip())
    data = body.get("data") or {}
    kind, result = data.get("resultType"), data.get("result")
    if kind in ("scalar", "string"):
        sample = result
    elif kind == "vector":
        if not result:
            return None
        sample = result[0].get("value")
    else:
        raise QueryError(f"unsupported result type {kind!r}")
    value = float(sample[1])
    return None if math.isnan(value) else value


@register
class PrometheusCheck(ProbeCheck):
    kind = "prometheus"

    def check(self, probe, config):
        base = (config.get("url") or settings.PROMETHEUS_URL).rstrip("/")
        if not base:
            return Outcome.graded(ProbeStatus.SKIPPED, "PROMETHEUS_URL is not set")
        metric = config.get("metric") or probe.name
        with Timer() as t:
            value = instant_query(base, config["query"], timeout=float(config.get("timeout_s", 5)))
        if value is None:
            return Outcome.graded(ProbeStatus.SKIPPED, "no data for the query", t.ms)
        ok = thresholds(value, maximum=config.get("max"), minimum=config.get("min"))
        status = ProbeStatus.OK if ok else ProbeStatus.DEGRADED
        return Outcome.graded(status, f"{metric} = {_show(metric, value)}", t.ms, {metric: value})


def _show(metric: str, value: float) -> str:
    if metric.endswith(("_rate", "_ratio")):
        return f"{value:.2%}"
    if metric.endswith("_ms"):
        return f"{value:.0f} ms"
    return f"{value:g}"

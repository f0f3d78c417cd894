"""HTTP endpoint: status code and latency."""

from __future__ import annotations

import requests

from incidents.detection.models import ProbeStatus
from incidents.detection.probes.base import Outcome, ProbeCheck, Timer, register, thresholds


@register
class HttpCheck(ProbeCheck):
    kind = "http"

    def check(self, probe, config):
        url = config.get("url")
        if not url:
            return Outcome.graded(ProbeStatus.SKIPPED, "no url configured")
        with Timer() as t:
            resp = requests.get(url, timeout=float(config.get("timeout_s", 5)), allow_redirects=False)
        expected = config.get("expect_status")
        good_status = resp.status_code == expected if expected else resp.status_code < 400
        metrics = {"latency_ms": round(t.ms, 3), "status_code": resp.status_code}
        if not good_status:
            return Outcome.graded(ProbeStatus.DOWN, f"HTTP {resp.status_code} in {t.ms:.0f} ms", t.ms, metrics)
        ok = thresholds(t.ms, maximum=config.get("max_latency_ms", 1000))
        status = ProbeStatus.OK if ok else ProbeStatus.DEGRADED
        return Outcome.graded(status, f"HTTP {resp.status_code} in {t.ms:.0f} ms", t.ms, metrics)

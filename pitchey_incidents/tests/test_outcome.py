"""One result type for probes, providers and actions: ok, output, data, skipped, a one-word status."""

from __future__ import annotations

import dataclasses

import pytest

from pitchey_incidents.outcome import Outcome


def test_status_follows_ok_and_skipped():
    assert Outcome(True, "flushed 3 key(s)", {"keys": 3}).status == "ok"
    assert Outcome(False, "HTTP 403").status == "failed"
    skipped = Outcome(False, "neon not configured: set NEON_API_KEY", skipped=True)
    assert skipped.status == "skipped" and not skipped.ok and skipped.data == {}


def test_a_graded_finding_is_ok_only_when_healthy():
    down = Outcome.graded("down", "ConnectionError: refused")
    degraded = Outcome.graded("degraded", "HTTP 200 in 1500 ms", 1500.0, {"latency_ms": 1500.0})
    healthy = Outcome.graded("ok", "PING in 0.4 ms", 0.4)
    skipped = Outcome.graded("skipped", "no url configured")
    assert [o.status for o in (down, degraded, healthy, skipped)] == ["down", "degraded", "ok", "skipped"]
    assert [o.ok for o in (down, degraded, healthy, skipped)] == [False, False, True, False]
    assert [o.skipped for o in (down, degraded, healthy, skipped)] == [False, False, False, True]
    assert degraded.latency_ms == 1500.0 and degraded.data == {"latency_ms": 1500.0}


def test_an_outcome_cannot_be_changed_after_the_fact():
    outcome = Outcome(True, "done")
    with pytest.raises(dataclasses.FrozenInstanceError):
        outcome.ok = False

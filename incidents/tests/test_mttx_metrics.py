"""Metrics from fixtures with known timestamps: exact MTTD/MTTA/MTTM/MTTR, response time met, periods."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from incidents import metrics
from incidents.lifecycle.models import Incident
from incidents.postmortems import metrics as metrics_postmortem
from incidents.postmortems import mttx as metrics_selectors
from recovery.models import Service

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday
M = 60


def make(severity, declared, *, detected=None, ack=None, mitigated=None, resolved=None, services=()):
    """An incident with timestamps given as seconds after ``declared`` (``declared`` from T0)."""
    at = T0 + timedelta(seconds=declared)
    incident = Incident.objects.create(
        severity=severity,
        title=f"{severity} at {declared}",
        declared_at=at,
        detected_at=at - timedelta(seconds=detected) if detected is not None else None,
        acknowledged_at=at + timedelta(seconds=ack) if ack is not None else None,
        mitigated_at=at + timedelta(seconds=mitigated) if mitigated is not None else None,
        resolved_at=at + timedelta(seconds=resolved) if resolved is not None else None,
    )
    incident.services.set(Service.objects.filter(slug__in=services))
    return incident


@pytest.fixture
def fixtures():
    # Runbook response times: P0 15 min, P1 1 h, P2 4 h, P3 24 h.
    make("P0", 0, detected=2 * M, ack=10 * M, mitigated=30 * M, resolved=60 * M, services=["database", "api"])
    make("P0", 3600, detected=4 * M, ack=20 * M, mitigated=50 * M, resolved=120 * M, services=["database"])
    make("P1", 7200, ack=30 * M, mitigated=40 * M, resolved=90 * M, services=["api"])
    make("P2", 86400, detected=60, ack=5 * 3600, services=["cache"])  # still open, acked late
    make("P3", 2 * 86400)  # open, unacknowledged, still within 24 h at NOW
    make("P1", -86400, ack=M, resolved=2 * M)  # before the period
    make("P1", 14 * 86400, ack=M, resolved=2 * M)  # after the period


NOW = T0 + timedelta(days=2, hours=3)


def test_summary_for_a_period_has_exact_means(fixtures):
    since, until = T0, T0 + timedelta(days=7)
    m = metrics_selectors.incident_metrics(since=since, until=until, now=NOW)
    assert m["incidents"] == 5
    assert m["mttd_s"] == round((120 + 240 + 60) / 3, 1) == 140.0
    assert m["mtta_s"] == (600 + 1200 + 1800 + 18000) / 4 == 5400.0
    assert m["mttm_s"] == round((1800 + 3000 + 2400) / 3, 1) == 2400.0
    assert m["mttr_s"] == (3600 + 7200 + 5400) / 3 == 5400.0
    # P0 #1 met (10 ≤ 15 min), P0 #2 missed (20 min), P1 met (30 ≤ 60 min), P2 missed (5 h > 4 h);
    # the P3 is still inside its 24 h and is not decided yet.
    assert m["response_time_met_ratio"] == 0.5
    p0 = m["by_severity"]["P0"]
    assert p0 == {
        "incidents": 2,
        "mttd_s": 180.0,
        "mtta_s": 900.0,
        "mttm_s": 2400.0,
        "mttr_s": 5400.0,
        "response_time_met_ratio": 0.5,
    }
    assert m["by_severity"]["P3"] == {
        "incidents": 1,
        "mttd_s": None,
        "mtta_s": None,
        "mttm_s": None,
        "mttr_s": None,
        "response_time_met_ratio": None,
    }
    assert m["by_service"]["database"]["incidents"] == 2 and m["by_service"]["database"]["mttr_s"] == 5400.0
    assert m["by_service"]["api"]["mtta_s"] == 1200.0 and m["by_service"]["api"]["response_time_met_ratio"] == 1.0
    assert set(m["by_service"]) == {"database", "api", "cache"}

    # Later, the P3 has waited past 24 h unacknowledged: it counts as missed.
    later = metrics_selectors.incident_metrics(since=since, until=until, now=T0 + timedelta(days=3, seconds=1))
    assert later["response_time_met_ratio"] == 0.4 and later["by_severity"]["P3"]["response_time_met_ratio"] == 0.0


def test_summary_api_periods_and_errors(fixtures, api, clock):
    clock.set(NOW)
    r = api("viewer").get("/api/v1/metrics/summary/?from=2026-11-02&to=2026-11-08")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["incidents"] == 5 and body["mtta_s"] == 5400.0 and body["mttr_s"] == 5400.0
    assert body["by_severity"]["P1"]["incidents"] == 1
    # `to` as a date is inclusive: the P1 declared on 2026-11-16 09:00 falls in when the period reaches it.
    r = api("viewer").get("/api/v1/metrics/summary/?from=2026-11-16&to=2026-11-16")
    assert r.json()["incidents"] == 1 and r.json()["mttr_s"] == 120.0
    r = api("viewer").get("/api/v1/metrics/summary/?from=2026-11-02T09:30:00Z&to=2026-11-02T12:00:00Z")
    assert r.json()["incidents"] == 2
    assert api("viewer").get("/api/v1/metrics/summary/?from=yesterday").json() == {
        "from": ["must be a date (YYYY-MM-DD) or an ISO 8601 date and time"]
    }
    r = api("viewer").get("/api/v1/metrics/summary/?to=2026-13-45")
    assert r.status_code == 400 and "to" in r.json()
    r = api("viewer").get("/api/v1/metrics/summary/?from=2026-11-08&to=2026-11-01")
    assert r.status_code == 400 and "to" in r.json()
    assert api(None).get("/api/v1/metrics/summary/").status_code == 401
    assert api("nobody").get("/api/v1/metrics/summary/").status_code == 403


def test_empty_period_has_no_means():
    m = metrics_selectors.incident_metrics(since=T0, until=T0 + timedelta(days=1), now=NOW)
    assert m["incidents"] == 0 and m["mttr_s"] is None and m["response_time_met_ratio"] is None
    assert m["by_service"] == {}


def test_weekly_series_buckets_by_iso_week(fixtures):
    series = metrics_selectors.weekly_series(weeks=3, now=T0 + timedelta(days=15))
    assert [w["week"] for w in series] == ["2026-W45", "2026-W46", "2026-W47"]
    assert series[0]["counts"] == {"P0": 2, "P1": 1, "P2": 1, "P3": 1}
    assert series[0]["mtta_s"] == 5400.0 and series[0]["mttr_s"] == 5400.0
    assert series[1]["counts"] == {"P0": 0, "P1": 0, "P2": 0, "P3": 0} and series[1]["mttr_s"] is None
    assert series[2]["counts"]["P1"] == 1 and series[2]["mttr_s"] == 120.0


def test_collect_yields_prometheus_families(fixtures):
    families = {
        name: (kind, help_text, samples) for name, kind, help_text, samples in metrics_postmortem.collect(now=NOW)
    }
    kind, help_text, samples = families["pitchey_incident_mttr_seconds"]
    assert kind == "gauge" and "resolve" in help_text
    assert dict((labels["severity"], v) for labels, v in samples) == {
        "P0": 5400.0,
        "P1": 2760.0,
    }  # the P1 of the day before counts too
    _, _, samples = families["pitchey_incident_response_time_met_ratio"]
    assert ({"severity": "P0"}, 0.5) in samples
    _, _, samples = families["pitchey_incidents"]
    assert ({"severity": "P0", "status": "triggered"}, 2.0) in samples
    assert families["pitchey_action_items_open"][2] == [({"overdue": "true"}, 0.0), ({"overdue": "false"}, 0.0)]


def recovery_fixtures():
    """A recovery run and a drill with achieved objectives, a dry run (ignored), and backups."""
    from backups.models import Backup, BackupLocation
    from recovery.models import Objective, RecoveryRun

    def run(kind, finished, *, dry_run=False, incident=""):
        return RecoveryRun.objects.create(
            kind=kind,
            plan="database",
            status="succeeded",
            dry_run=dry_run,
            incident=incident,
            requested_by="commander",
            finished_at=T0 + timedelta(hours=finished) if finished is not None else None,
        )

    real = run("run", 1, incident="INC-00001")
    Objective.objects.create(
        run=real, kind="rto", subject="database", target_s=900, max_s=1800, achieved_s=600, met=True
    )
    Objective.objects.create(
        run=real, kind="rpo", subject="database", target_s=3600, max_s=14400, achieved_s=5000, met=False
    )
    drill = run("drill", 30)
    Objective.objects.create(run=drill, kind="rto", subject="api", target_s=300, max_s=900, achieved_s=1000, met=False)
    dry = run("run", 2, dry_run=True)
    Objective.objects.create(run=dry, kind="rto", subject="api", target_s=300, max_s=900, achieved_s=1, met=True)

    def backup(kind, status, finished_h, snapshot_h=None, verified=False):
        b = Backup.objects.create(
            kind=kind,
            status=status,
            finished_at=T0 + timedelta(hours=finished_h),
            snapshot_at=T0 + timedelta(hours=snapshot_h) if snapshot_h is not None else None,
            verified_at=T0 + timedelta(hours=finished_h) if verified else None,
        )
        if status == "succeeded":
            BackupLocation.objects.create(backup=b, tier="local", uri=f"file:///backups/{b.id}")
        return b

    backup("database", "succeeded", 2, snapshot_h=1.5, verified=True)
    backup("database", "failed", 8)
    backup("config", "succeeded", 9, snapshot_h=9, verified=False)  # not verified: not an RPO anchor
    backup("media", "succeeded", 10, snapshot_h=10, verified=True)
    backup("database", "succeeded", -48)  # before the period


def test_summary_has_achieved_rto_rpo_and_backup_health(api, clock):
    recovery_fixtures()
    now = clock.set(T0 + timedelta(hours=12))
    m = metrics_selectors.metrics_summary(since=T0, until=T0 + timedelta(days=7), now=now)
    assert m["rto"] == [
        {
            "run": m["rto"][0]["run"],
            "kind": "run",
            "finished_at": T0 + timedelta(hours=1),
            "service": "database",
            "target_s": 900,
            "max_s": 1800,
            "achieved_s": 600.0,
            "met": True,
        },
        {
            "run": m["rto"][1]["run"],
            "kind": "drill",
            "finished_at": T0 + timedelta(hours=30),
            "service": "api",
            "target_s": 300,
            "max_s": 900,
            "achieved_s": 1000.0,
            "met": False,
        },
    ]
    assert [(r["data_type"], r["achieved_s"], r["met"]) for r in m["rpo"]] == [("database", 5000.0, False)]
    assert m["rto_met_ratio"] == 0.5 and m["rpo_met_ratio"] == 0.0
    backups = m["backups"]
    assert backups["success_ratio"] == round(3 / 4, 4) and (backups["succeeded"], backups["failed"]) == (3, 1)
    ages = {row["data_type"]: (row["age_s"], row["state"]) for row in backups["data_types"]}
    # Newest verified database snapshot at T0+1.5 h, seen at T0+12 h: 10.5 h old, past the 4 h maximum.
    assert ages["database"] == (37800, "breach") and ages["media"] == (7200, "ok")
    assert ages["config"] == (None, "unknown") and backups["age_s"] == 7200

    body = api("viewer").get("/api/v1/metrics/summary/?from=2026-11-02&to=2026-11-02").json()
    assert [r["service"] for r in body["rto"]] == ["database"]  # the drill finished on the 3rd
    assert body["rto"][0]["finished_at"] == "2026-11-02T10:00:00Z" and body["backups"]["success_ratio"] == 0.75


def test_collect_includes_recovery_and_backup_ratios():
    recovery_fixtures()
    families = {name: samples for name, _, _, samples in metrics_postmortem.collect(now=T0 + timedelta(days=2))}
    assert families["pitchey_recovery_objective_met_ratio"] == [
        ({"objective": "rto", "kind": "run"}, 1.0),
        ({"objective": "rto", "kind": "drill"}, 0.0),
        ({"objective": "rpo", "kind": "run"}, 0.0),
    ]
    assert families["pitchey_backup_success_ratio"] == [({}, 0.8)]  # 30 days back: the older backup too


def test_incidents_metrics_module_exports_these_families(fixtures, clock):
    clock.set(NOW)
    names = [name for name, *_ in metrics.collect()]
    for expected in ("pitchey_incident_mtta_seconds", "pitchey_action_items_open", "pitchey_backup_success_ratio"):
        assert expected in names

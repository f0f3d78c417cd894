"""The monthly drill as beat runs it, on a real Celery worker: each scenario says what it proved, and
each scheduled drill that proved nothing opens the runbook's P2 incident naming what to configure."""

from __future__ import annotations

import os

import pytest
import redis

from backups import services as backup_services
from incidents.lifecycle.models import Incident
from pitchey_incidents.testing import start_redis, wait_for
from recovery import tasks
from recovery.models import RecoveryRun

UNSET = ["NEON_API_KEY", "CF_API_TOKEN", "SLACK_WEBHOOK", "SLACK_WEBHOOK_CRITICAL", "SLACK_WEBHOOK_WARNING"]
UNSET += ["PAGERDUTY_ROUTING_KEY", "STATUSPAGE_API_KEY", "OUTGOING_WEBHOOK_URL", "DRILL_EMAIL", "DRILL_SLACK_WEBHOOK"]


INCONCLUSIVE = {"database-failover", "api-rollback", "communications"}


def run_the_monthly_drill(worker, target_url: str, scratch_url: str, **extra: str) -> dict[str, RecoveryRun]:
    """Beat's task on a real worker; every scenario's drill, once all five have finished."""
    env = {"TARGET_REDIS_URL": target_url, "DRILL_REDIS_URL": scratch_url, "SERVICE_HEALTH_URLS": ""} | extra
    worker(queues="critical,default,long", **env, **dict.fromkeys(UNSET, ""))
    tasks.drill_monthly.delay()
    wait_for(
        lambda: RecoveryRun.objects.filter(kind="drill", finished_at__isnull=False).count() == 5,
        timeout=180,
        message="the five scheduled drills to finish",
    )
    return {r.scenario: r for r in RecoveryRun.objects.filter(kind="drill")}


def incident_titles() -> set[str]:
    titles = set(Incident.objects.values_list("title", flat=True))
    return titles if titles >= {f"DR drill {s} inconclusive" for s in INCONCLUSIVE} else set()


@pytest.mark.django_db(transaction=True)
def test_monthly_drill_on_a_worker_opens_a_p2_for_each_drill_that_proved_nothing(worker, tmp_path):
    (target_proc, target_url), (scratch_proc, scratch_url) = start_redis(tmp_path), start_redis(tmp_path)
    try:
        runs = run_the_monthly_drill(worker, target_url, scratch_url)
        assert all(r.requested_by == "beat" for r in runs.values())
        assert {s: runs[s].status for s in INCONCLUSIVE} == dict.fromkeys(INCONCLUSIVE, "inconclusive")
        assert runs["cache-recovery"].status == "succeeded", runs["cache-recovery"].summary
        assert redis.Redis.from_url(scratch_url).dbsize() == 0
        titles = wait_for(incident_titles, timeout=30, message="a P2 incident for each inconclusive drill")
        assert not any("cache-recovery" in t for t in titles)
        failover = Incident.objects.get(title="DR drill database-failover inconclusive")
        assert failover.severity == "P2" and "Neon: set NEON_API_KEY and NEON_PROJECT_ID" in failover.description
        assert f"/recovery/runs/{runs['database-failover'].id}/report/" in failover.description
    finally:
        target_proc.stop()
        scratch_proc.stop()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_monthly_drill_with_nothing_configured_restores_our_own_data_into_scratch_and_succeeds(
    worker, tmp_path, settings
):
    """A fresh install once its scheduled backups ran: the backup-restore drill beat starts restores our
    own database, media and the session store's snapshot into scratch and says succeeded, measured."""
    (target_proc, target_url), (scratch_proc, scratch_url) = start_redis(tmp_path), start_redis(tmp_path)
    media = tmp_path / "media"
    media.mkdir()
    (media / "upload.png").write_bytes(os.urandom(20_000))
    settings.BACKUP_DIR, settings.MEDIA_DIR, settings.CONFIG_PATHS = tmp_path / "backups", str(media), []
    settings.R2_BUCKET = settings.R2_ARCHIVE_BUCKET = settings.TARGET_DATABASE_URL = ""
    settings.TARGET_REDIS_URL = target_url
    redis.Redis.from_url(target_url).mset({f"session:{i}": i for i in range(40)})
    try:
        for kind in ("database", "config", "media", "sessions"):
            backup = backup_services.backup_start(kind=kind, actor="beat", inline=True)
            assert backup.status == "succeeded", backup.error
        dirs = {"BACKUP_DIR": str(settings.BACKUP_DIR), "MEDIA_DIR": str(media), "R2_BUCKET": "", "CONFIG_PATHS": ""}
        drill = run_the_monthly_drill(worker, target_url, scratch_url, **dirs)["backup-restore"]
    finally:
        target_proc.stop()
        scratch_proc.stop()
    steps = {s.name: s for s in drill.steps.all()}
    assert drill.status == "succeeded", [(s.name, s.status, s.output) for s in steps.values()]
    assert drill.requested_by == "beat" and drill.missing == [] and not drill.deviated
    assert all(s.status == "succeeded" and s.verified_at for s in steps.values())
    assert "40 keys in 1 db(s) match" in steps["restore_sessions"].output
    rpo = {o.subject: o.achieved_s for o in drill.objectives.filter(kind="rpo")}
    rto = {o.subject: (o.achieved_s, o.met) for o in drill.objectives.filter(kind="rto")}
    assert rpo.keys() == {"database", "config", "media", "sessions"} and all(v >= 0 for v in rpo.values())
    assert rto.keys() >= {"database", "media"} and all(v is not None and met for v, met in rto.values())
    assert not Incident.objects.filter(title__contains="backup-restore").exists()

"""The recover command, disaster-recovery.sh, the monthly drill schedule and the cache drill."""

from __future__ import annotations

import subprocess

import pytest
import redis
from django.core.management import CommandError, call_command
from django_celery_beat.models import PeriodicTask

from pitchey_incidents.testing import ROOT, child_env, start_redis
from recovery import services
from recovery.models import RecoveryRun, RuntimeFlag

from .fakes import FakeServer


@pytest.mark.django_db(transaction=True)
def test_recover_full_dry_run_shows_the_runbook_order_and_changes_nothing(capsys):
    with pytest.raises(CommandError):  # nothing is configured here, so the dry run reports failures
        call_command("recover", "full", "--dry-run", "--inline")
    out = capsys.readouterr().out
    order = [
        out.index(t)
        for t in (
            "Create an emergency backup",
            "Assess the damage",
            "Restart the Neon endpoint",
            "Check the auth endpoint",
            "Roll back to the previous version",
            "Check the WebSocket endpoint",
            "Check media delivery",
            "Check the cache",
            "Verify the whole platform",
            "Generate the report",
        )
    ]
    assert order == sorted(order)
    assert "would take an emergency database backup" in out and "Validation checklist" in out
    run = RecoveryRun.objects.get()
    assert run.dry_run and run.finished_at and not RuntimeFlag.objects.exists()
    call_command("recover", "list")
    call_command("recover", "show", str(run.id))
    assert f"Recovery run #{run.id}: full" in capsys.readouterr().out


@pytest.mark.django_db
def test_recover_refuses_bad_input():
    with pytest.raises(CommandError, match="incident: no such incident"):
        call_command("recover", "database", "--incident", "INC-424242")
    with pytest.raises(CommandError, match="no run 999"):
        call_command("recover", "show", "999")
    assert not RecoveryRun.objects.exists()


def test_script_passes_the_runbook_arguments():
    script = ROOT / "scripts" / "disaster-recovery.sh"
    bad = subprocess.run([script, "explode"], capture_output=True, text=True, env=child_env())
    assert bad.returncode == 2 and "unknown command" in bad.stderr
    helped = subprocess.run([script, "--help"], capture_output=True, text=True, env=child_env())
    assert helped.returncode == 0 and "full|database|api" in helped.stdout


@pytest.mark.django_db
def test_monthly_drill_is_scheduled_first_saturday_0200():
    task = PeriodicTask.objects.get(task="recovery.tasks.drill_monthly")
    cron = task.crontab
    assert (cron.minute, cron.hour, cron.day_of_month, cron.day_of_week) == ("0", "2", "1-7", "6")
    assert task.enabled and task.queue == "long"


@pytest.mark.django_db(transaction=True)
def test_cache_drill_flushes_only_the_scratch_redis_db(settings, tmp_path):
    proc, url = start_redis(tmp_path)  # a redis-server of the test's own: never skipped, harms nobody
    settings.TARGET_REDIS_URL = url
    live = redis.Redis.from_url(url)
    live.set("drill-test:keep", "1")
    try:
        drill = services.drill_start(scenario="cache-recovery", actor="beat", inline=True)
        drill.refresh_from_db()
        step = drill.steps.get()
        assert drill.status == "succeeded" and step.data["before"] >= 100 and step.data["after"] == 0
        assert live.get("drill-test:keep") == b"1"  # the protected cache is untouched
        assert drill.objectives.get(kind="rto", subject="cache").met
    finally:
        proc.stop()


@pytest.mark.django_db(transaction=True)
def test_communications_drill_with_only_the_test_channel_is_inconclusive(settings):
    """The Slack test channel accepts the message, but every incident channel is unset: nothing proves
    they work, so the drill says inconclusive and names them (it once said succeeded)."""

    server = FakeServer(lambda method, path, body, headers: (200, b"ok", {"Content-Type": "text/plain"}))
    settings.DRILL_SLACK_WEBHOOK = server.url + "/services/T0/B0/test"
    settings.SLACK_WEBHOOK = settings.SLACK_WEBHOOK_CRITICAL = settings.SLACK_WEBHOOK_WARNING = ""
    settings.PAGERDUTY_ROUTING_KEY = settings.STATUSPAGE_API_KEY = settings.DRILL_EMAIL = ""
    settings.OUTGOING_WEBHOOK_URL = ""
    try:
        drill = services.drill_start(scenario="communications", actor="commander", inline=True)
    finally:
        server.close()
    drill.refresh_from_db()
    assert drill.status == "inconclusive" and not drill.deviated
    assert [r["path"] for r in server.requests] == ["/services/T0/B0/test"]
    assert server.requests[0]["body"] == {"text": "Disaster-recovery drill: test message, no action needed."}
    assert [m["what"] for m in drill.missing] == [
        "Slack",
        "PagerDuty",
        "Statuspage test page or component",
        "Email to the drill address",
        "Webhook",
        "Person-level Email",
        "Person-level Push (ntfy)",
        "Person-level SMS",
        "Person-level Slack mention",
        "Person-level Personal webhook",
    ]
    checklist = {c["item"]: c for c in drill.report["checklist"]}
    assert checklist["Notifications sent to all channels"]["status"] == "unknown"
    assert checklist["Notifications sent to all channels"]["evidence"].startswith("sent: slack-test; failed: none")

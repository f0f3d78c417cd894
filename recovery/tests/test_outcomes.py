"""Three honest outcomes (succeeded, inconclusive, failed), RTO judged from what happened, and the
validation checklist's evidence, item by item, against the rows it counts."""

import re
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from backups.models import Backup
from incidents.comms.models import Notification
from incidents.lifecycle import services as incident_services
from incidents.lifecycle.models import Incident
from pitchey_incidents import events
from pitchey_incidents.metrics import gather
from recovery import services
from recovery.management.commands import recover
from recovery.models import RecoveryRun
from recovery.reports import CHECKLIST, checklist, render_markdown

from .test_runs import make_plan

READ_ONLY = {"params": {"flag": "READ_ONLY_MODE", "enabled": True}}
VERIFY_READ_ONLY = {"verify_action": "flags.set", "verify_params": {"flag": "READ_ONLY_MODE", "enabled": True}}
# Neon is not configured in tests: its step is skipped, and says what to set.
NEON_STEP = ("restart", "neon.restart_endpoint", {"service": "database"} | VERIFY_READ_ONLY)
# How every page shows an outcome ({% status_badge %}): icon, word and tone.
SUCCEEDED = (
    '<span class="outcome outcome-ok outcome-succeeded" data-status="succeeded">'
    '<span aria-hidden="true">✓</span> Succeeded</span>'
)
INCONCLUSIVE = (
    '<span class="outcome outcome-unsure outcome-inconclusive" data-status="inconclusive">'
    '<span aria-hidden="true">?</span> Inconclusive</span>'
)


@pytest.fixture
def no_neon(settings):
    settings.NEON_API_KEY = settings.NEON_PROJECT_ID = ""


@pytest.mark.django_db(transaction=True)
def test_a_skipped_proof_step_makes_the_run_inconclusive_everywhere(no_neon, users, api):
    make_plan("half", [("flag", "flags.set", READ_ONLY), NEON_STEP])
    run = services.run_start(plan="half", actor="tester", inline=True)
    run.refresh_from_db()
    assert run.status == "inconclusive" and not run.deviated
    assert run.missing == [{"what": "Neon", "hint": "set NEON_API_KEY and NEON_PROJECT_ID"}]
    body = api("viewer").get(f"/api/v1/recovery-runs/{run.id}/").json()
    assert body["status"] == "inconclusive" and body["missing"] == run.missing
    schema = api("viewer").get("/api/schema/?format=json").json()
    enum = schema["components"]["schemas"]["RecoveryRunStatusEnum"]["enum"]
    assert enum == ["queued", "running", "succeeded", "failed", "inconclusive", "cancelled"]
    assert schema["components"]["schemas"]["RecoveryRun"]["properties"]["missing"]["type"] == "array"
    client = Client()
    client.force_login(users["viewer"])
    for url in (f"/recovery/runs/{run.id}/", f"/recovery/runs/{run.id}/report/", "/recovery/", "/"):
        html = client.get(url).content.decode()
        assert INCONCLUSIVE in html, url
    reports = client.get("/reports/").content.decode()
    assert f"recovery runs 0 {SUCCEEDED}, " in reports
    assert f"1 {INCONCLUSIVE}" in reports
    report = client.get(f"/recovery/runs/{run.id}/report/").content.decode()
    assert "set NEON_API_KEY and NEON_PROJECT_ID" in report
    md = client.get(f"/recovery/runs/{run.id}/report.md").content.decode()
    assert "- Status: **? inconclusive**" in md and "- Neon: set NEON_API_KEY and NEON_PROJECT_ID" in md
    assert 'pitchey_recovery_runs_finished{kind="run",status="inconclusive"} 1.0' in gather()
    assert 'pitchey_recovery_runs_finished{kind="run",status="succeeded"} 0.0' in gather()


@pytest.mark.django_db(transaction=True)
def test_cli_exit_status_tells_the_three_outcomes_apart(no_neon):
    make_plan("half", [("flag", "flags.set", READ_ONLY), NEON_STEP])
    make_plan("whole", [("flag", "flags.set", READ_ONLY | VERIFY_READ_ONLY)])
    make_plan("broken", [("bad", "flags.set", {"params": {"flag": "NOPE", "enabled": True}})])
    codes = {}
    for plan in ("half", "whole", "broken"):
        recover.PLANS.append(plan)
        try:
            call_command("recover", plan, "--inline")
            codes[plan] = 0
        except CommandError as exc:
            codes[plan] = exc.returncode
            if plan == "half":
                assert "Neon: set NEON_API_KEY" in str(exc)
        finally:
            recover.PLANS.remove(plan)
    assert codes == {"whole": 0, "broken": 1, "half": 3}


@pytest.mark.django_db(transaction=True)
def test_scheduled_inconclusive_drill_opens_a_p2_naming_what_to_configure(no_neon):
    make_plan("half-drill", [NEON_STEP], drill=True)
    by_hand = services.drill_start(scenario="half-drill", actor="commander", inline=True)
    assert RecoveryRun.objects.get(id=by_hand.id).status == "inconclusive"
    assert not Incident.objects.exists()  # a drill started by hand shows its verdict to whoever started it
    scheduled = services.drill_start(scenario="half-drill", actor="beat", inline=True)
    assert RecoveryRun.objects.get(id=scheduled.id).status == "inconclusive"
    incident = Incident.objects.get()
    assert incident.severity == "P2" and incident.title == "DR drill half-drill inconclusive"
    assert "Configure: Neon: set NEON_API_KEY and NEON_PROJECT_ID" in incident.description


@pytest.mark.django_db(transaction=True)
def test_a_fallback_that_worked_is_no_failure_and_rto_runs_from_detection(clock):
    """The case of the audit: a database recovery whose first option fell back, healthy after 348 s
    against a 900 s target, is met (it once showed "Met: no")."""
    make_plan(
        "fell-back",
        [
            (
                "first",
                "flags.set",
                {"service": "database", "params": {"flag": "NOPE", "enabled": True}, "on_failure": "fallback"}
                | {"fallback": "second"}
                | VERIFY_READ_ONLY,
            ),
            ("second", "flags.set", {"service": "database", "only_as_fallback": True} | READ_ONLY | VERIFY_READ_ONLY),
        ],
    )
    detected = timezone.now() - timedelta(seconds=348)
    run = services.run_start(
        plan="fell-back",
        actor="tester",
        incident_declared_at=detected + timedelta(seconds=60),
        incident_started_at=detected,
        inline=True,
    )
    run.refresh_from_db()
    steps = dict(run.steps.values_list("name", "status"))
    assert steps == {"first": "failed", "second": "succeeded"} and run.status == "succeeded"
    rto = run.objectives.get(kind="rto", subject="database")
    assert rto.target_s == 900 and 348 <= rto.achieved_s < 360 and rto.met is True
    md = render_markdown(run.report)
    assert re.search(r"\| Database \| 15 min \| [^|]+ \| 5 min 4[89] s \| yes \|", md), md


@pytest.mark.django_db(transaction=True)
def test_a_step_that_ran_and_failed_with_nothing_standing_in_fails_the_run():
    make_plan(
        "no-rescue",
        [
            (
                "first",
                "flags.set",
                {"service": "api", "params": {"flag": "NOPE", "enabled": True}, "on_failure": "fallback"}
                | {"fallback": "second"},
            ),
            ("second", "flags.set", {"only_as_fallback": True, "params": {"flag": "NOPE2", "enabled": True}}),
            ("verify", "verify", {"service": "api"} | VERIFY_READ_ONLY),
        ],
    )
    run = services.run_start(plan="no-rescue", actor="tester", inline=True)
    run.refresh_from_db()
    assert run.status == "failed" and run.missing == []
    assert dict(run.steps.values_list("name", "status")) == {"first": "failed", "second": "failed", "verify": "skipped"}


@pytest.mark.django_db(transaction=True)
def test_a_proof_step_skipped_without_naming_what_is_missing_still_makes_the_run_inconclusive():
    """``restore.intact`` with no backup yet skips and names nothing to configure (no ``missing``):
    the run must still not be green, and says which step proved nothing and why."""
    assert not Backup.objects.exists()
    make_plan(
        "unnamed-gap",
        [
            ("flag", "flags.set", READ_ONLY | VERIFY_READ_ONLY),
            ("copy_intact", "restore.intact", {"service": "api", "params": {"kind": "config"}}),
        ],
    )
    run = services.run_start(plan="unnamed-gap", actor="tester", inline=True)
    run.refresh_from_db()
    step = run.steps.get(name="copy_intact")
    assert step.status == "skipped" and "no verified backup holding config yet" in step.output
    assert run.status == "inconclusive"
    assert run.missing == [{"what": "copy intact", "hint": step.output}]
    assert run.report["status"] == "inconclusive" and run.report["missing"] == run.missing


# --- the checklist, item by item ------------------------------------------------------------------


def _items(run) -> dict:
    found = {c["item"]: c for c in checklist(run, [], [], [])}
    assert list(found) == CHECKLIST
    return found


@pytest.mark.django_db
def test_checklist_notifications_count_notification_sent_events():
    run = RecoveryRun.objects.create(plan="x", requested_by="t")
    assert _items(run)["Notifications sent to all channels"]["status"] == "unknown"
    for _ in range(3):
        events.emit("incident.notification_sent", "incident:INC-00007", {})
    events.emit("notification.notification_sent", "notification:4", {})
    events.emit("incident.notification_failed", "incident:INC-00007", {})  # not a sent one
    item = _items(run)["Notifications sent to all channels"]
    assert item["status"] == "pass" and item["evidence"].startswith("4 notifications sent")
    assert item["links"] == [{"label": "INC-00007", "url": "/incidents/INC-00007/"}]


@pytest.mark.django_db
def test_checklist_status_page_counts_only_automatic_updates(users):
    run = RecoveryRun.objects.create(plan="x", requested_by="t")
    incident = incident_services.incident_declare(severity="P1", title="API down", actor=users["commander"])
    now = timezone.now()
    Notification.objects.create(
        incident=incident, channel="statuspage", kind="status_update", status="sent", sent_at=now
    )
    item = _items(run)["Status page updates automatically"]
    assert item["status"] == "unknown" and item["evidence"].startswith("0 automatic")  # a person's post is manual
    Notification.objects.create(incident=incident, channel="statuspage", kind="declared", status="failed")
    Notification.objects.create(incident=incident, channel="statuspage", kind="declared", status="sent", sent_at=now)
    item = _items(run)["Status page updates automatically"]
    assert item["status"] == "pass" and item["evidence"].startswith("1 automatic")
    assert item["links"] == [{"label": incident.public_id, "url": f"/incidents/{incident.public_id}/"}]


@pytest.mark.django_db
def test_checklist_a_full_backup_counts_for_the_kinds_it_holds():
    run = RecoveryRun.objects.create(plan="x", requested_by="t")
    now = timezone.now()
    Backup.objects.create(kind="database", status="succeeded", snapshot_at=now - timedelta(hours=2))
    item = _items(run)["All backup types created successfully"]
    assert item["status"] == "fail" and "config: none" in item["evidence"] and "media: none" in item["evidence"]
    parts = [{"part": "database"}, {"part": "config"}, {"part": "media", "skipped": True}]
    full = Backup.objects.create(kind="full", status="succeeded", snapshot_at=now, manifest={"parts": parts})
    item = _items(run)["All backup types created successfully"]
    assert item["status"] == "fail" and f"config: #{full.id} (full)" in item["evidence"]
    assert "media: none" in item["evidence"]  # a part the full backup skipped does not count
    assert f"database: #{full.id} (full)" in item["evidence"]  # newer than the database backup
    full.manifest = {"parts": [{"part": "database"}, {"part": "config"}, {"part": "media"}]}
    full.save()
    item = _items(run)["All backup types created successfully"]
    assert item["status"] == "pass" and item["links"] == [
        {"label": f"backup #{full.id}", "url": f"/api/v1/backups/{full.id}/"}
    ]


@pytest.mark.django_db
def test_checklist_restorable_detection_mitigation_and_postmortem(users):
    run = RecoveryRun.objects.create(plan="x", requested_by="t", incident="INC-00001")
    items = _items(run)
    assert items["Backups verified and restorable"] == {
        "item": "Backups verified and restorable",
        "status": "fail",
        "evidence": "no verified backup",
        "links": [],
    }
    assert items["Incident detection working"]["status"] == "unknown"
    assert items["Post-mortem process initiated"]["status"] == "fail"
    verified = Backup.objects.create(
        kind="database", status="succeeded", snapshot_at=timezone.now(), verified_at=timezone.now()
    )
    incident_services.incident_declare(severity="P2", title="by hand", actor=users["commander"])
    probe = incident_services.incident_declare(severity="P2", title="by probe", actor="probe", source="probe")
    events.emit("incident.postmortem_opened", "incident:INC-00001", {})
    events.emit("incident.mitigation_succeeded", probe.subject, {})
    items = _items(run)
    assert items["Backups verified and restorable"]["links"] == [
        {"label": f"backup #{verified.id}", "url": f"/api/v1/backups/{verified.id}/"}
    ]
    detection = items["Incident detection working"]
    assert detection["status"] == "pass" and detection["evidence"].startswith("1 incident(s) opened by detection")
    assert detection["links"] == [{"label": probe.public_id, "url": f"/incidents/{probe.public_id}/"}]
    assert items["Auto-mitigation triggers correctly"]["status"] == "pass"
    assert items["Post-mortem process initiated"]["status"] == "pass"

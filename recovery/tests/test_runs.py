"""The run engine: order, fallbacks, dry runs, crash handling, incidents, drills, API, pages."""

import pytest
from django.db import connection
from django.test import Client

from incidents.lifecycle import services as incident_services
from incidents.lifecycle.models import Incident, TimelineEntry
from recovery import selectors, services
from recovery.models import PlanStep, RecoveryPlan, RecoveryRun, RunStep, RuntimeFlag


def make_plan(slug, steps, *, drill=False):
    plan = RecoveryPlan.objects.create(slug=slug, name=slug, is_drill=drill, service="api")
    for i, (name, action, opts) in enumerate(steps, start=1):
        PlanStep.objects.create(plan=plan, position=i, name=name, title=name.replace("_", " "), action=action, **opts)
    return plan


FLAGS_PLAN = [
    (
        "read_only",
        "flags.set",
        {
            "params": {"flag": "READ_ONLY_MODE", "enabled": True},
            "service": "api",
            "verify_action": "flags.set",
            "verify_params": {"flag": "READ_ONLY_MODE", "enabled": True},
        },
    ),
    (
        "bad",
        "flags.set",
        {"params": {"flag": "NOPE", "enabled": True}, "on_failure": "fallback", "fallback": "maintenance"},
    ),
    ("maintenance", "flags.set", {"params": {"flag": "MAINTENANCE_MODE", "enabled": True}, "only_as_fallback": True}),
    ("unused", "flags.set", {"params": {"flag": "MAINTENANCE_MODE", "enabled": False}, "only_as_fallback": True}),
]


def snapshot():
    """Every row of every table of ours except the recovery run bookkeeping and the event log."""
    skip = {
        "recovery_recoveryrun",
        "recovery_runstep",
        "recovery_objective",
        "pitchey_incidents_event",
        "pitchey_incidents_auditentry",
    }
    tables = [t for t in connection.introspection.table_names() if t not in skip]
    with connection.cursor() as cur:
        return {t: cur.execute(f'SELECT * FROM "{t}"').fetchall() for t in tables}  # noqa: S608


@pytest.mark.django_db(transaction=True)
def test_run_follows_order_fallbacks_and_measures_rto():
    make_plan("flags", FLAGS_PLAN)
    run = services.run_start(plan="flags", actor="tester", inline=True)
    run.refresh_from_db()
    steps = {s.name: s for s in run.steps.all()}
    assert [steps[n].status for n in ("read_only", "bad", "maintenance", "unused")] == [
        "succeeded",
        "failed",
        "succeeded",
        "skipped",
    ]
    assert run.status == "succeeded" and run.finished_at
    assert RuntimeFlag.objects.get(name="READ_ONLY_MODE").enabled
    assert RuntimeFlag.objects.get(name="MAINTENANCE_MODE").enabled
    rto = run.objectives.get(kind="rto", subject="api")
    assert rto.target_s == 300 and rto.max_s == 900 and rto.achieved_s is not None and rto.met is True
    assert steps["read_only"].verified_at is not None
    assert run.report["checklist"][6]["status"] == "pass"
    assert [r["service"] for r in selectors.objective_results() if r["run"] == run.id] == ["api"]


@pytest.mark.django_db(transaction=True)
def test_dry_run_changes_nothing():
    make_plan("flags", FLAGS_PLAN)
    before = snapshot()
    run = services.run_start(plan="flags", actor="tester", dry_run=True, inline=True)
    run.refresh_from_db()
    assert run.finished_at and [s.output.split()[0] for s in run.steps.all()[:1]] == ["would"]
    assert snapshot() == before
    assert run.objectives.get(kind="rto").achieved_s is None


@pytest.mark.django_db(transaction=True)
def test_abort_stops_the_run():
    make_plan(
        "aborts",
        [
            ("bad", "flags.set", {"params": {"flag": "NOPE", "enabled": True}}),
            ("later", "flags.set", {"params": {"flag": "READ_ONLY_MODE", "enabled": True}}),
        ],
    )
    run = services.run_start(plan="aborts", actor="tester", inline=True)
    run.refresh_from_db()
    assert run.status == "failed"
    assert list(run.steps.values_list("status", flat=True)) == ["failed", "skipped"]
    assert not RuntimeFlag.objects.filter(name="READ_ONLY_MODE").exists()


@pytest.mark.django_db(transaction=True)
def test_a_step_found_running_after_a_crash_is_retried_only_if_idempotent(settings, tmp_path):
    marker = tmp_path / "ran"
    settings.ALLOWED_COMMANDS = {"mark": f"sh -c 'echo x >> {marker}'"}
    make_plan(
        "crash",
        [
            ("flag", "flags.set", {"params": {"flag": "READ_ONLY_MODE", "enabled": True}}),
            ("mark", "command.run", {"params": {"command": "mark"}}),
            ("after", "flags.set", {"params": {"flag": "MAINTENANCE_MODE", "enabled": True}}),
        ],
    )
    run = services.run_start(plan="crash", actor="tester")  # queued, not executed
    # As a worker that died would leave it: both steps claimed, neither finished, lease expired.
    RunStep.objects.filter(run=run, position__in=[1, 2]).update(status="running", attempts=1)
    RecoveryRun.objects.filter(id=run.id).update(status="running", lease_owner="dead@host", lease_until=None)
    services.run_execute(run_id=run.id, owner="w2@host")
    steps = {s.name: s for s in RunStep.objects.filter(run=run)}
    assert steps["flag"].status == "succeeded" and steps["flag"].attempts == 2  # idempotent: retried
    assert steps["mark"].status == "needs_attention" and not marker.exists()  # not idempotent: never re-run
    assert steps["after"].status == "skipped"
    assert RecoveryRun.objects.get(id=run.id).status == "failed"


@pytest.mark.django_db(transaction=True)
def test_attached_run_puts_steps_on_the_incident_timeline(users):
    incident = incident_services.incident_declare(severity="P1", title="API down", actor=users["commander"])
    make_plan("flags", FLAGS_PLAN)
    info = services.incident_info(incident.public_id)
    run = services.run_start(
        plan="flags", actor="tester", incident=info["public_id"], incident_declared_at=info["declared_at"], inline=True
    )
    notes = list(
        TimelineEntry.objects.filter(incident=incident, kind="recovery_step").values_list("message", flat=True)
    )
    assert any("read only — running" in n for n in notes) and any("read only — succeeded" in n for n in notes)
    rto = RecoveryRun.objects.get(id=run.id).objectives.get(kind="rto")
    assert rto.achieved_s >= 0
    client = Client()
    client.force_login(users["viewer"])
    section = client.get(f"/recovery/incident/{incident.public_id}/").content.decode()
    assert f"#{run.id} flags" in section and "read only: succeeded" in section and "API Gateway" in section


@pytest.mark.django_db(transaction=True)
def test_failed_drill_opens_a_p2_incident():
    make_plan("broken-drill", [("bad", "flags.set", {"params": {"flag": "NOPE", "enabled": True}})], drill=True)
    run = services.drill_start(scenario="broken-drill", actor="beat", inline=True)
    run.refresh_from_db()
    assert run.status == "failed" and run.kind == "drill" and "before" in run.steady_state
    incident = Incident.objects.get()
    assert incident.severity == "P2" and "broken-drill" in incident.title


@pytest.mark.django_db(transaction=True)
def test_cancel_a_queued_run():
    make_plan("flags", FLAGS_PLAN)
    run = services.run_start(plan="flags", actor="tester")
    services.run_cancel(run=run, actor="tester")
    run.refresh_from_db()
    assert run.status == "cancelled" and set(run.steps.values_list("status", flat=True)) == {"skipped"}
    assert not RuntimeFlag.objects.exists()


@pytest.mark.django_db
def test_api_roles_validation_and_shape(api, users):
    assert (
        api("viewer").post("/api/v1/recovery-runs/", {"plan": "api", "dry_run": True}, format="json").status_code == 403
    )
    bad = api("commander").post("/api/v1/recovery-runs/", {"plan": "nope"}, format="json")
    assert bad.status_code == 400 and "plan" in str(bad.json())
    bad = api("commander").post("/api/v1/recovery-runs/", {"plan": "api", "incident": "INC-99999"}, format="json")
    assert bad.status_code == 400 and "incident" in str(bad.json())
    assert api("commander").post("/api/v1/drills/", {"scenario": "nope"}, format="json").status_code == 400
    assert RecoveryRun.objects.count() == 0
    ok = api("commander").post("/api/v1/recovery-runs/", {"plan": "full", "dry_run": True}, format="json")
    assert ok.status_code == 202
    body = ok.json()
    assert {
        "id",
        "plan",
        "status",
        "dry_run",
        "incident",
        "started_at",
        "finished_at",
        "steps",
        "rto",
        "rpo",
        "report_url",
    } <= set(body)
    assert [s["service"] for s in body["steps"][2:]][:1] == ["database"]
    services_in_order = list(dict.fromkeys(s["service"] for s in body["steps"] if s["service"]))
    assert services_in_order == ["database", "auth", "api", "websocket", "media", "cache"]
    assert api("viewer").get(f"/api/v1/recovery-runs/{body['id']}/").status_code == 200
    assert api("nobody").get("/api/v1/recovery-runs/").status_code == 403
    drill = api("commander").post("/api/v1/drills/", {"scenario": "cache-recovery"}, format="json")
    assert drill.status_code == 202 and drill.json()["scenario"] == "cache-recovery" and "deviated" in drill.json()
    assert api("viewer").get("/api/v1/drills/").json()["count"] == 1


@pytest.mark.django_db(transaction=True)
def test_pages_and_reports(client, users, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    make_plan("flags", FLAGS_PLAN)
    run = services.run_start(plan="flags", actor="tester", inline=True)
    client.force_login(users["viewer"])
    assert b"Full system recovery" in client.get("/recovery/").content
    assert b"read only" in client.get(f"/recovery/runs/{run.id}/").content
    html = client.get(f"/recovery/runs/{run.id}/report/").content.decode()
    assert "Validation checklist" in html and "Recovery meets RTO targets" in html
    md = client.get(f"/recovery/runs/{run.id}/report.md").content.decode()
    assert md.startswith(f"# Recovery run #{run.id}") and "| API Gateway | 5 min | 15 min |" in md
    assert client.get(f"/recovery/runs/{run.id}/report.json").json()["status"] == "succeeded"
    assert client.get("/recovery/trend.svg")["Content-Type"] == "image/svg+xml"
    client.logout()
    assert client.get("/recovery/").status_code in (302, 403)


@pytest.mark.django_db
def test_api_attaches_a_run_to_an_incident_and_cancels(api, users):
    incident = incident_services.incident_declare(severity="P0", title="DB down", actor=users["commander"])
    answer = api("commander").post(
        "/api/v1/recovery-runs/", {"plan": "database", "incident": incident.public_id, "dry_run": True}, format="json"
    )
    assert answer.status_code == 202, answer.json()
    body = answer.json()
    run = RecoveryRun.objects.get(id=body["id"])
    assert body["incident"] == incident.public_id and run.incident_declared_at == incident.declared_at
    assert body["report_url"].endswith(f"/recovery/runs/{run.id}/report/")
    assert [r["service"] for r in body["rto"]] == ["database"] and body["rto"][0]["target_s"] == 900
    cancel = api("commander").post(f"/api/v1/recovery-runs/{run.id}/cancel/")
    assert cancel.status_code == 202 and cancel.json()["status"] == "cancelled"
    assert api("commander").post(f"/api/v1/recovery-runs/{run.id}/cancel/").status_code == 409

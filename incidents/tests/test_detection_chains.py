"""Detection that sees the platform without Prometheus, and the runbook's automated chains: health
endpoints served by the tests, the local Cloudflare and Neon servers, real PostgreSQL and Redis, and a
real Celery worker with beat."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents.detection import chains
from incidents.detection import services as detection
from incidents.detection.defaults import API_CHAIN
from incidents.detection.models import AssessmentRule, ChainState, DetectionCase, HealthSample, Probe
from incidents.lifecycle import services as lifecycle
from incidents.lifecycle.models import Incident, Mitigation, Status
from pitchey_incidents.testing import wait_for
from recovery.tests.fakes import FakeCloudflare, FakeServer, HealthEndpoint

ACCOUNT, WORKER = "acct-drill", "pitchey-api"
HTTP_RULES = ["API endpoint down", "Critical error rate (health endpoints)", "High error rate (health endpoints)"]


def only_http_probes() -> None:
    """Only the health endpoints are watched: nothing else of the shared machine is acted on."""
    Probe.objects.exclude(kind="http").update(enabled=False)


@pytest.fixture
def platform(settings):
    """The platform's Worker on the local Cloudflare server: v3 is live and broken, v2 before it worked;
    its health endpoint answers 500 while v3 is live."""
    cf = FakeCloudflare({WORKER: ["v3", "v2"]}, account=ACCOUNT)
    health = HealthEndpoint(lambda: 500 if cf.live(WORKER) == "v3" else 200)
    settings.CF_API_TOKEN, settings.CLOUDFLARE_API_URL, settings.CF_ACCOUNT_ID = "cf-token", cf.api_url, ACCOUNT
    settings.CF_WORKER_NAME, settings.PROVIDER_RETRY_BASE_S = WORKER, 0.01
    settings.SERVICE_HEALTH_URLS = {"api": health.url}
    settings.PROMETHEUS_URL = ""
    yield cf, health
    cf.close()
    health.close()


def worker_env(cf: FakeCloudflare, health: HealthEndpoint) -> dict[str, str]:
    """The worker's settings: the local Cloudflare and the health endpoint; beat's cadences in seconds."""
    return {
        "CF_API_TOKEN": "cf-token",
        "CLOUDFLARE_API_URL": cf.api_url,
        "CF_ACCOUNT_ID": ACCOUNT,
        "CF_WORKER_NAME": WORKER,
        "SERVICE_HEALTH_URLS": f"api={health.url}",
        "PROMETHEUS_URL": "",
        "DETECTION_INTERVAL_S": "1",
        "HEALTH_SAMPLE_INTERVAL_S": "0.5",
        "DETECTION_CHAIN_SWEEP_S": "1",
    }


def deployed(cf: FakeCloudflare) -> list[str]:
    return [r["body"]["versions"][0]["version_id"] for r in cf.posts(WORKER)]


def automation(incident: Incident) -> list[str]:
    return list(incident.timeline.filter(kind="automation").values_list("message", flat=True))


@pytest.mark.django_db(transaction=True)
def test_a_storm_of_5xx_opens_an_incident_that_redeploys_rolls_back_and_resolves_by_itself(platform, worker, page):
    cf, health = platform
    detection.probes_sync_http()
    only_http_probes()
    AssessmentRule.objects.filter(name__in=HTTP_RULES).update(settle_s=1)
    worker(beat=True, concurrency=2, **worker_env(cf, health))

    def resolved():
        return Incident.objects.filter(status=Status.RESOLVED).first()

    incident = wait_for(resolved, timeout=120, message="the 5xx storm's incident to resolve by itself")
    assert incident.resolution == "Automated mitigation successful" and incident.source == "probe"
    assert deployed(cf) == ["v3", "v2"]  # the redeploy of the live version, then the rollback
    assert cf.live(WORKER) == "v2"
    mitigations = list(Mitigation.objects.filter(incident=incident).values_list("action", "status", "requested_by"))
    assert mitigations == [("restart_worker", "succeeded", "system"), ("rollback_deploy", "succeeded", "system")]
    notes = automation(incident)
    assert notes[0].startswith("Automated chain started: restart_worker → rollback_deploy → enable_maintenance")
    assert any(n.startswith("Verify after restart_worker: ") and "still failing: HTTP 500" in n for n in notes), notes
    assert any(n.startswith("Verify after rollback_deploy: HTTP 200") for n in notes)
    kinds = [k for k in incident.timeline.values_list("kind", flat=True) if k != "paged"]
    assert kinds[0] == "declared" and "resolved" in kinds
    assert kinds.count("mitigation_succeeded") == 2 and "escalated" not in kinds
    assert Incident.objects.count() == 1  # the errors left in the window open nothing new
    assert HealthSample.objects.filter(probe__name="http-api", ok=False).exists()
    shown = page("viewer").get(incident.get_absolute_url()).content.decode()  # the incident's page
    for text in ("Automated chain started", "Verify after restart_worker", "Verify after rollback_deploy"):
        assert text in shown
    wait_for(  # the case row is written right after the incident resolves
        lambda: DetectionCase.objects.filter(incident=incident, chain_state=ChainState.RESOLVED, open=False).exists(),
        timeout=30,
        message="the chain's row to say resolved",
    )


@pytest.mark.django_db
def test_an_exhausted_chain_escalates_and_a_step_without_its_backend_is_skipped_with_the_reason(platform, settings):
    cf, _ = platform
    cf.deployments[WORKER] = cf.deployments[WORKER][:1]  # nothing to roll back to
    settings.CF_API_TOKEN = "cf-token"
    detection.probes_sync_http()
    only_http_probes()
    AssessmentRule.objects.filter(name__in=HTTP_RULES).update(settle_s=0)
    AssessmentRule.objects.filter(name="API endpoint down").update(
        chain=[{"action": "restart_database_endpoint", "params": {}}, *API_CHAIN[:2]]
    )
    settings.NEON_API_KEY = ""
    report = detection.detection_run()
    issue = report.issues[0]
    assert (issue.rule, issue.outcome) == ("API endpoint down", "escalated")
    assert [(m["action"], m["status"]) for m in issue.mitigations] == [
        ("restart_worker", "succeeded"),
        ("rollback_deploy", "failed"),
    ]
    incident = Incident.objects.get()
    assert incident.escalation_level == 1
    notes = automation(incident)
    assert "Step 1/3 restart_database_endpoint skipped: not configured: set NEON_API_KEY and NEON_PROJECT_ID" in notes
    assert any("Step 3/3 rollback_deploy failed" in n for n in notes)
    assert deployed(cf) == ["v3"]


@pytest.fixture
def neon(settings):
    """The local Neon server: an endpoint restart is an operation that finishes on the second poll."""
    state = {"restarts": 0, "polls": 0}

    def answer(method, path, body, headers):
        if headers.get("Authorization") != "Bearer neon-key":
            return 401, {"code": "", "message": "authorization failed"}, {}
        if method == "POST" and path == "/api/v2/projects/proj-1/endpoints/ep-1/restart":
            state["restarts"] += 1
            op = {"id": "op-r", "action": "restart_compute", "status": "running"}
            return 200, {"endpoint": {"id": "ep-1"}, "operations": [op]}, {}
        if method == "GET" and path == "/api/v2/projects/proj-1/operations/op-r":
            state["polls"] += 1
            status = "finished" if state["polls"] >= 2 else "running"
            return 200, {"operation": {"id": "op-r", "status": status}}, {}
        return 404, {"code": "", "message": "not found"}, {}

    server = FakeServer(answer)
    settings.NEON_API_URL, settings.NEON_API_KEY = server.url + "/api/v2", "neon-key"
    settings.NEON_PROJECT_ID, settings.NEON_ENDPOINT_ID, settings.NEON_POLL_INTERVAL_S = "proj-1", "ep-1", 0.01
    yield state
    server.close()


@pytest.mark.postgres  # the target comes back as this test's own database, by a PostgreSQL URL
@pytest.mark.django_db
def test_database_down_restarts_the_neon_endpoint_and_resolves_when_the_database_answers(neon, settings):
    """The database chain's first step against the local Neon server; the target "comes back" with it."""
    Probe.objects.exclude(name="database").update(enabled=False)
    real = settings.DATABASES["default"]
    settings.TARGET_DATABASE_URL = f"postgresql://postgres@127.0.0.1:1/{real['NAME']}"  # unreachable
    rule = AssessmentRule.objects.get(name="Database unreachable")
    assert rule.actions == ["restart_database_endpoint", "branch_from_pitr", "pitr_restore"]
    AssessmentRule.objects.filter(id=rule.id).update(settle_s=0)
    case = detection.detection_run(inline=False).issues[0]
    assert case.outcome == "mitigating"
    # The endpoint restart brings the database back: point the target at the real server before verify.
    host = real.get("HOST") or "127.0.0.1"
    settings.TARGET_DATABASE_URL = (
        f"postgresql://{real.get('USER') or 'postgres'}@{host}:{real.get('PORT') or 5432}/{real['NAME']}"
    )
    stored = DetectionCase.objects.get()
    final = chains.chain_run_inline(stored.id)
    assert final.chain_state == ChainState.RESOLVED and neon["restarts"] == 1
    assert Mitigation.objects.get().action == "restart_database_endpoint"
    assert Incident.objects.get().status == Status.RESOLVED


@pytest.mark.django_db
def test_a_chain_whose_worker_died_is_resumed_by_the_sweeper_without_repeating_its_step(platform, settings, clock):
    cf, _ = platform
    detection.probes_sync_http()
    only_http_probes()
    AssessmentRule.objects.filter(name__in=HTTP_RULES).update(settle_s=5)
    detection.detection_run(inline=False)
    case = DetectionCase.objects.get()
    # A worker claimed the first step, requested the redeploy, ran it and died before writing the state.
    redeploy = lifecycle.mitigation_start(incident=case.incident, action="restart_worker", actor="system", inline=True)
    lifecycle.mitigation_execute(mitigation_id=redeploy.id)
    DetectionCase.objects.filter(id=case.id).update(
        chain_mitigation=redeploy, chain_lease_until=timezone.now() + timedelta(seconds=60)
    )
    assert deployed(cf) == ["v3"]
    assert chains.chain_advance(case.id) == "not due"  # held by the dead worker's lease
    clock.advance(seconds=61)
    assert chains.chains_sweep() == {"dispatched": 1}
    final = chains.chain_run_inline(case.id, sleep=lambda s: clock.advance(seconds=s))
    assert final.chain_state == ChainState.RESOLVED and deployed(cf) == ["v3", "v2"]
    assert chains.chain_advance(case.id) == "not due"  # done: a late message does nothing

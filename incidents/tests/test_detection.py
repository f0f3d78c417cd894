"""Probes against real Redis, PostgreSQL and a Prometheus query API; assessment and mitigation."""

import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from backups.models import Backup
from backups.tests.factories import verified_backup
from incidents.detection import services as detection
from incidents.detection.models import AssessmentRule, DetectionCase, ProbeResult
from incidents.lifecycle.models import Incident, Status
from incidents.tests.servers import FakePrometheus, start_redis
from pitchey_incidents.testing import ROOT, child_env, database_url_for_subprocess, free_port
from recovery.models import RuntimeFlag

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def backups_within_rpo():
    """Every data type has a fresh verified backup: only what a test breaks is unhealthy."""
    for kind in ("database", "config", "media"):
        verified_backup(kind, 60)


@pytest.fixture(autouse=True)
def no_settle_time():
    """Chains verify at once: how long a step settles is not what these tests are about (the CLI would
    otherwise wait out each rule's settle time for real; the chains' own tests cover it)."""
    AssessmentRule.objects.update(settle_s=0)


@pytest.fixture
def prom(settings):
    server = FakePrometheus()
    server.answers = {"http_requests_total": [0.002], "http_request_duration": [250], "auth_attempts": [0.999]}
    settings.PROMETHEUS_URL = server.url
    yield server
    server.stop()


@pytest.fixture
def cache(tmp_path, settings):
    proc, url = start_redis(tmp_path)
    settings.TARGET_REDIS_URL = url
    yield proc
    proc.stop()


def run_cli(*args):

    out = StringIO()
    try:
        call_command("incident", "detect", *args, stdout=out)
        return 0, out.getvalue()
    except CommandError as exc:
        return 1, out.getvalue() + str(exc)


def test_all_healthy_prints_the_runbook_lines_and_exits_zero(prom, cache):
    code, out = run_cli("--inline")
    assert code == 0, out
    assert "✅ Checking error rate... error_rate = 0.20%" in out
    assert "✅ Checking API latency... p99_latency_ms = 250 ms" in out
    assert "✅ Checking cache health... PING in" in out
    assert out.splitlines()[-1].startswith("✅ All checks passed")
    lines = out.splitlines()
    assert lines[0].startswith("✅ Checking error rate") and "Checking database health" in lines[1]
    assert any("http_requests_total" in q for q in prom.queries)
    assert Incident.objects.count() == 0
    assert ProbeResult.objects.filter(probe__name="error-rate", status="ok").exists()


def test_stopped_redis_opens_one_incident_and_exits_non_zero(prom, cache, settings, tmp_path):
    assert run_cli()[0] == 0
    cache.stop()
    code, out = run_cli()
    assert code == 1 and "❌ Checking cache health... " in out
    assert "🚨 Issue detected: Redis down" in out
    incident = Incident.objects.get()
    assert (incident.severity, incident.source, incident.status) == ("P2", "probe", "triggered")
    assert [s.slug for s in incident.services.all()] == ["cache"]
    code, out = run_cli()  # still down: the same incident is updated, not duplicated
    assert code == 1 and "(already open)" in out and Incident.objects.count() == 1
    assert DetectionCase.objects.get().hits == 2
    port = int(settings.TARGET_REDIS_URL.rsplit(":", 1)[1].split("/")[0])
    again, _ = start_redis(tmp_path, port=port)  # Redis is back: the incident moves to monitoring
    try:
        assert run_cli()[0] == 0
        incident.refresh_from_db()
        assert incident.status == Status.MONITORING
        assert incident.timeline.last().message.startswith("cache health passes again")
    finally:
        again.stop()


def test_failed_mitigation_is_re_checked_and_escalated(prom, cache):
    AssessmentRule.objects.filter(name="Redis down").update(chain=[{"action": "purge_cache", "params": {}}])
    cache.stop()
    report = detection.detection_run()
    issue = report.issues[0]
    assert (issue.rule, issue.mitigations[0]["status"], issue.outcome) == ("Redis down", "failed", "escalated")
    incident = Incident.objects.get()
    assert incident.escalation_level == 1 and incident.status == Status.MITIGATING
    timeline = list(incident.timeline.values_list("kind", "actor"))
    assert timeline == [
        ("declared", "system"),
        ("automation", "system"),  # the chain starts
        ("mitigation_requested", "system"),
        ("mitigation_failed", "system"),
        ("automation", "system"),  # the step failed: no verify, the chain is exhausted
        ("escalated", "system"),
        ("paged", "system"),  # the escalation pages the next level
    ]
    assert ProbeResult.objects.filter(probe__name="cache", status="down").count() == 1


def test_mitigation_that_works_resolves_the_incident(prom, cache):

    prom.answers["http_requests_total"] = [0.12, 0.003]  # bad, then fine once the mitigation ran
    AssessmentRule.objects.filter(name="High error rate").update(
        chain=[{"action": "enable_read_only", "params": {}}], settle_s=0
    )
    code, out = run_cli()
    assert code == 0, out
    lines = out.splitlines()
    assert "✅ Checking error rate... error_rate = 0.30%" in lines  # the re-check's result is shown
    assert "🚨 Issue detected: High error rate (api: error_rate = 12.00%)" in out
    assert "🔧 Applying automated mitigation... enable_read_only: succeeded" in lines
    assert "✅ Issue resolved" in lines
    incident = Incident.objects.get()
    assert incident.status == Status.RESOLVED and incident.resolution == "Automated mitigation successful"
    assert incident.severity == "P2" and RuntimeFlag.objects.get(name="READ_ONLY_MODE").enabled
    assert set(incident.timeline.values_list("actor", flat=True)) == {"system"}


def test_error_rate_above_half_is_p1(prom, cache):
    prom.answers["http_requests_total"] = [0.6]
    report = detection.detection_run()
    assert [(i.rule, i.severity) for i in report.issues] == [("Critical error rate", "P1")]
    assert not report.ok


def test_unreachable_database_is_p0(prom, cache, settings):
    settings.TARGET_DATABASE_URL = f"postgresql://postgres:hunter2@127.0.0.1:{free_port()}/nothing"
    code, out = run_cli()
    assert code == 1 and "❌ Checking database health... OperationalError" in out
    incident = Incident.objects.get()
    assert incident.severity == "P0" and incident.title == "Database unreachable (Database)"
    assert "hunter2" not in ProbeResult.objects.get(probe__name="database").detail + out


@pytest.mark.postgres
def test_postgres_probe_measures_the_real_database(settings, users, api):
    settings.TARGET_DATABASE_URL = database_url_for_subprocess()
    settings.PROMETHEUS_URL = ""
    settings.TARGET_REDIS_URL = settings.REDIS_URL = ""
    report = detection.detection_run()
    db_check = next(c for c in report.checks if c.check == "database")
    assert db_check.status == "ok", db_check
    assert 0 < db_check.metrics["connections_ratio"] < 0.8 and db_check.metrics["max_connections"] >= 10
    assert db_check.metrics["latency_ms"] > 0
    services = {s["slug"]: s["health"] for s in api("viewer").get("/api/v1/services/").json()}
    assert services["database"] == "healthy" and services["media"] == "unknown"


def test_health_and_detect_api(prom, cache, api):
    assert api(None).post("/api/v1/detect/").status_code == 401
    assert api("responder").post("/api/v1/detect/").status_code == 403
    r = api("commander").post("/api/v1/detect/")
    assert r.status_code == 200 and r.json()["ok"] is True
    assert {c["check"] for c in r.json()["checks"]} >= {"error-rate", "cache", "p99-latency"}
    health = {h["check"]: h for h in api("viewer").get("/api/v1/health/").json()}
    assert health["cache"]["status"] == "ok" and health["cache"]["service"] == "cache"
    assert health["error-rate"]["metrics"] == {"error_rate": 0.002}
    cache.stop()
    api("commander").post("/api/v1/detect/")
    services = {s["slug"]: s["health"] for s in api("viewer").get("/api/v1/services/").json()}
    assert services["cache"] == "down" and services["api"] == "healthy"


def test_rules_are_admin_editable_and_validated(users, client, settings):

    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }

    rule = AssessmentRule.objects.get(name="Database connections exhausted")
    assert rule.chain == [{"action": "terminate_idle_connections", "params": {"idle_minutes": 10}}]
    assert rule.severity == "P2"
    rule.chain = [{"action": "reboot_the_world"}]
    with pytest.raises(ValidationError, match="unknown action"):
        rule.full_clean()
    rule.chain = []
    with pytest.raises(ValidationError, match="say why"):
        rule.full_clean()
    users["admin"].is_staff = users["admin"].is_superuser = True
    users["admin"].save()
    client.force_login(users["admin"])
    page = client.get(f"/admin/incidents/assessmentrule/{rule.pk}/change/")
    assert page.status_code == 200 and b"terminate_idle_connections" in page.content
    assert client.get("/admin/incidents/alertsource/").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_runbook_script_detect_reports_and_exits_non_zero(prom, cache, settings):

    env = child_env(
        PROMETHEUS_URL=prom.url,
        TARGET_REDIS_URL=settings.TARGET_REDIS_URL,
        TARGET_DATABASE_URL=f"postgresql://postgres@127.0.0.1:{free_port()}/nothing",
    )
    done = subprocess.run(
        ["bash", "scripts/incident-response.sh", "detect"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "✅ Checking error rate... error_rate = 0.20%" in done.stdout
    assert "❌ Checking database health..." in done.stdout
    assert "🚨 Issue detected: Database unreachable" in done.stdout
    assert "detection found problems" in done.stderr
    assert Incident.objects.get().severity == "P0"


def test_http_endpoint_probe_from_service_health_urls(settings):

    answers = [200]

    class Health(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(answers[0] if self.path == "/health" else 404)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings.PROMETHEUS_URL = settings.TARGET_REDIS_URL = settings.REDIS_URL = ""
        settings.SERVICE_HEALTH_URLS = {"api": f"http://127.0.0.1:{server.server_address[1]}/health"}
        report = detection.detection_run()
        http = next(c for c in report.checks if c.check == "http-api")
        assert (http.status, http.metrics["status_code"], http.service) == ("ok", 200, "api")
        answers[0] = 503
        report = detection.detection_run()
        assert [(i.rule, i.severity, i.check) for i in report.issues] == [("API endpoint down", "P1", "http-api")]
        assert "HTTP 503" in report.issues[0].detail
    finally:
        server.shutdown()
        server.server_close()


def test_backups_past_their_rpo_open_an_incident_through_the_rules(prom, cache, clock):
    # The backups' ages and the detection runs read the same fixed "now" (a slow run added seconds).

    for kind in ("database", "config"):  # fresh by this clock: the autouse ones were stamped before it was set
        verified_backup(kind, 60)
    Backup.objects.filter(kind="media").delete()
    assert detection.detection_run().ok is False  # media never backed up: a warning, no incident
    assert Incident.objects.count() == 0
    verified_backup("media", 3 * 86400)  # the runbook's media RPO maximum is 48 h
    report = detection.detection_run()
    [issue] = report.issues
    assert (issue.rule, issue.severity, issue.service, issue.check) == (
        "Backups past their RPO",
        "P2",
        "media",
        "media-backups",
    )
    assert "Media Files: newest verified backup 3 d old, past its RPO maximum (2 d at most)" in issue.detail
    incident = Incident.objects.get()
    assert incident.severity == "P2" and incident.source == "probe"
    assert detection.detection_run().issues[0].new is False  # the same incident, not a second one
    verified_backup("media", 60)
    report = detection.detection_run()
    assert report.ok and not report.issues
    [check] = [c for c in report.checks if c.check == "media-backups"]
    assert check.status == "ok" and check.metrics["breaches"] == 0

"""Drills that exercise what they name, on scratch resources only, against real components: a
pgbench-filled PostgreSQL target and the branch the local Neon server makes of it, real Redis servers,
local Cloudflare, Slack, PagerDuty and Statuspage servers that answer as the vendors' specs say."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import subprocess

import psycopg
import pytest
import redis
from django.core import mail

from backups import restore, targets
from incidents.detection.models import AssessmentRule, Probe
from incidents.lifecycle.models import Incident
from incidents.tests.vendors import FakePagerDuty, FakeReceiver, FakeSlack, FakeStatuspage
from pitchey_incidents.testing import start_redis
from recovery import services
from recovery.providers.postgres import with_database

from .fakes import FakeCloudflare, FakeServer

PROJECT, ACCOUNT = "proj-drill", "acct-drill"


def drill(scenario: str, actor: str = "commander"):
    run = services.drill_start(scenario=scenario, actor=actor, inline=True)
    run.refresh_from_db()
    return run, {s.name: s for s in run.steps.all()}


# --- communications ---------------------------------------------------------------------------------


@pytest.fixture
def channels(settings):
    slack, pd, sp, rx = FakeSlack(), FakePagerDuty(), FakeStatuspage(page_id="testpage"), FakeReceiver()
    settings.SLACK_WEBHOOK = f"{slack.url}/services/T1/B1/incidents"
    settings.SLACK_WEBHOOK_CRITICAL = f"{slack.url}/services/T1/B1/critical"
    settings.SLACK_WEBHOOK_WARNING = ""
    settings.PAGERDUTY_ROUTING_KEY, settings.PAGERDUTY_EVENTS_URL = "R0UT1NGKEY0123456789012345678901", pd.url
    settings.STATUSPAGE_API_KEY, settings.STATUSPAGE_PAGE_ID = sp.api_key, "livepage"
    settings.STATUSPAGE_API_URL, settings.DRILL_STATUSPAGE_PAGE_ID = sp.url, "testpage"
    settings.OUTGOING_WEBHOOK_URL, settings.OUTGOING_WEBHOOK_SECRET = f"{rx.url}/in", "whsec-drill"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.DRILL_EMAIL, settings.DRILL_SLACK_WEBHOOK = "drill@example.test", ""
    yield slack, pd, sp, rx
    for vendor in (slack, pd, sp, rx):
        vendor.close()


@pytest.mark.django_db(transaction=True)
def test_communications_drill_reaches_every_channel_and_each_accepts(channels):
    slack, pd, sp, rx = channels
    run, steps = drill("communications")
    assert run.status == "succeeded", steps["test_message"].output
    assert sorted(steps["test_message"].data["sent"]) == [
        "email",
        "pagerduty",
        "slack:critical",
        "slack:incidents",
        "statuspage",
        "webhook",
    ]
    assert sorted(r["path"].rsplit("/", 1)[1] for r in slack.posts("/services/")) == ["critical", "incidents"]
    assert all(m["text"].startswith("[DR drill] ") for m in slack.messages())
    trigger, resolve = pd.events()
    assert trigger["event_action"] == "trigger" and resolve["event_action"] == "resolve"
    key = trigger["dedup_key"]
    assert key.startswith("pitchey-incidents/drill-") and resolve["dedup_key"] == key and pd.alerts[key] == "resolved"
    assert [r["path"] for r in sp.posts()] == ["/pages/testpage/incidents", "/pages/testpage/incidents/sp1"]
    assert sp.incidents["sp1"]["status"] == "resolved" and sp.incidents["sp1"]["deliver_notifications"] is False
    (delivery,) = rx.posts("/in")
    signed = delivery["headers"]["X-Pitchey-Timestamp"].encode() + b"." + delivery["raw"]
    expected = "sha256=" + hmac.new(b"whsec-drill", signed, hashlib.sha256).hexdigest()
    assert delivery["headers"]["X-Pitchey-Signature"] == expected and delivery["json"]["event"] == "drill"
    (email,) = mail.outbox
    assert email.to == ["drill@example.test"] and email.subject.startswith("[DR drill]")
    checklist = {c["item"]: c for c in run.report["checklist"]}
    assert checklist["Notifications sent to all channels"]["status"] == "pass"


@pytest.mark.django_db(transaction=True)
def test_communications_drill_names_each_missing_channel_and_is_inconclusive(channels, settings):
    slack, pd, sp, _ = channels
    settings.PAGERDUTY_ROUTING_KEY = settings.DRILL_EMAIL = ""
    settings.DRILL_STATUSPAGE_PAGE_ID = ""  # the live page alone is never drilled on
    run, steps = drill("communications", actor="beat")
    assert run.status == "inconclusive" and steps["test_message"].status == "succeeded"
    assert [m["what"] for m in run.missing] == [
        "PagerDuty",
        "Statuspage test page or component",
        "Email to the drill address",
    ]
    assert pd.requests == [] and sp.requests == [] and len(slack.messages()) == 2
    assert "not configured: PagerDuty, Statuspage test page or component" in steps["test_message"].output
    incident = Incident.objects.get()  # a scheduled drill that proved nothing opens a P2
    assert incident.severity == "P2" and "set PAGERDUTY_ROUTING_KEY" in incident.description


@pytest.mark.django_db(transaction=True)
def test_communications_drill_fails_when_a_receiver_refuses(channels):
    slack = channels[0]
    slack.fail_next(500, "oops")
    run, steps = drill("communications")
    assert run.status == "failed" and "failed: slack (" in steps["test_message"].output
    assert "HTTP 500" in steps["test_message"].output


# --- cache-recovery ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_cache_drill_fills_flushes_and_rewarms_a_scratch_redis_only(settings, tmp_path):
    (target_proc, target_url), (scratch_proc, scratch_url) = start_redis(tmp_path), start_redis(tmp_path)
    try:
        settings.TARGET_REDIS_URL, settings.DRILL_REDIS_URL = target_url, scratch_url
        live = redis.Redis.from_url(target_url)
        live.mset({f"session:{i}": i for i in range(50)})
        run, steps = drill("cache-recovery")
        step = steps["scratch_cycle"]
        assert run.status == "succeeded", step.output
        assert (step.data["before"], step.data["after"], step.data["rewarmed"]) == (100, 0, 100)
        assert step.verified_at and run.objectives.get(kind="rto", subject="cache").achieved_s is not None
        assert live.dbsize() == 50  # the protected cache is untouched
        assert redis.Redis.from_url(scratch_url).dbsize() == 0  # the scratch database is left empty
        # The broker's database, spelled another way (localhost, no db), is refused and left alone.
        port = scratch_url.split(":")[2].split("/")[0]
        settings.CELERY_BROKER_URL = f"redis://localhost:{port}"
        settings.DRILL_REDIS_URL = f"redis://127.0.0.1:{port}/0"
        redis.Redis.from_url(scratch_url).set("broker-queue", "work")
        run, steps = drill("cache-recovery")
        assert run.status == "failed" and "is the Celery broker" in steps["scratch_cycle"].output
        assert redis.Redis.from_url(scratch_url).get("broker-queue") == b"work"
    finally:
        target_proc.stop()
        scratch_proc.stop()


# --- api-rollback -----------------------------------------------------------------------------------


@pytest.fixture
def cloudflare(settings):
    cf = FakeCloudflare({"pitchey-api": ["v2", "v1"], "pitchey-api-drill": ["s2", "s1"]})
    health = FakeServer(lambda method, path, body, headers: (200, {"ok": True}, {}))
    settings.CF_API_TOKEN, settings.CLOUDFLARE_API_URL, settings.CF_ACCOUNT_ID = "cf-token", cf.url, ACCOUNT
    settings.CF_WORKER_NAME, settings.DRILL_CF_WORKER_NAME = "pitchey-api", "pitchey-api-drill"
    settings.SERVICE_HEALTH_URLS = {"api": health.url + "/health"}
    yield cf
    cf.server.close()
    health.close()


@pytest.mark.django_db(transaction=True)
def test_api_rollback_drill_rolls_a_scratch_worker_back_and_forward(cloudflare):
    run, steps = drill("api-rollback")
    assert run.status == "succeeded", steps["rollback"].output
    assert {"mode": "scratch", "rolled_back_to": "s1", "restored": "s2"}.items() <= steps["rollback"].data.items()
    deployed = [r["body"]["versions"][0]["version_id"] for r in cloudflare.posts("pitchey-api-drill")]
    assert deployed == ["s1", "s2"]  # back, then forward again
    assert cloudflare.posts("pitchey-api") == []  # the real Worker is never deployed
    assert cloudflare.deployments["pitchey-api-drill"][0]["versions"][0]["version_id"] == "s2"


@pytest.mark.django_db(transaction=True)
def test_api_rollback_drill_dry_runs_the_real_worker_or_is_inconclusive(cloudflare, settings):
    settings.DRILL_CF_WORKER_NAME = ""
    run, steps = drill("api-rollback")
    assert run.status == "succeeded" and steps["rollback"].data["mode"] == "dry run"
    assert "would roll back from v2 to v1" in steps["rollback"].output
    assert [r["method"] for r in cloudflare.server.requests] == ["GET", "GET"]  # deployments, the version
    settings.CF_WORKER_NAME = ""
    run, steps = drill("api-rollback")
    assert run.status == "inconclusive" and steps["rollback"].status == "skipped"
    assert run.missing[0]["what"] == "a Cloudflare Worker to drill on"
    settings.CF_API_TOKEN = ""
    run, _ = drill("api-rollback")
    assert run.status == "inconclusive" and run.missing[0] == {"what": "Cloudflare", "hint": "set CF_API_TOKEN"}


# --- database-failover ------------------------------------------------------------------------------


class FakeNeon:
    """Neon API v2 branches: each branch is a real PostgreSQL database made from the target (its
    template), whose connection URI is handed out; deleting the branch drops it."""

    def __init__(self, base_url: str, target: str, *, empty: bool = False):
        self.base_url, self.target, self.empty = base_url, target, empty
        self.branches: dict[str, str] = {}
        self.server = FakeServer(self.answer)
        self.url = self.server.url + "/api/v2"

    def answer(self, method, path, body, headers):
        if headers.get("Authorization") != "Bearer neon-key":
            return 401, {"code": "", "message": "authorization failed"}, {}
        base = f"/api/v2/projects/{PROJECT}"
        if method == "POST" and path == f"{base}/branches":
            return self._create(body)
        if method == "GET" and path.startswith(f"{base}/operations/"):
            return 200, {"operation": {"id": path.rsplit("/", 1)[1], "status": "finished"}}, {}
        if method == "DELETE" and path.startswith(f"{base}/branches/"):
            branch = path.rsplit("/", 1)[1]
            restore.drop_database(self.base_url, self.branches.pop(branch))
            return 200, {"branch": {"id": branch}, "operations": [{"id": "op-del", "status": "running"}]}, {}
        return 404, {"code": "", "message": "not found"}, {}

    def _create(self, body):
        branch = f"br-{len(self.branches) + 1}"
        name = f"{self.target}_{branch.replace('-', '_')}"
        with psycopg.connect(self.base_url, autocommit=True) as conn:
            template = "" if self.empty else f' TEMPLATE "{self.target}"'
            conn.execute(f'CREATE DATABASE "{name}"{template}')
        self.branches[branch] = name
        uri = with_database(self.base_url, name)
        return (
            201,
            {
                "branch": {"id": branch, "name": body["branch"]["name"]},
                "endpoints": [{"id": f"ep-{branch}", "host": "127.0.0.1"}],
                "operations": [{"id": f"op-{branch}", "action": "create_branch", "status": "running"}],
                "connection_uris": [{"connection_uri": uri, "connection_parameters": {"database": name}}],
            },
            {},
        )


@pytest.fixture
def pg_target(settings):
    base = targets.database_url()
    name = f"failover_target_{secrets.token_hex(4)}"
    url = restore.create_database(base, name)
    subprocess.run(["pgbench", "-i", "-q", "-s", "1", url], check=True, capture_output=True)
    settings.TARGET_DATABASE_URL = url
    settings.NEON_API_KEY, settings.NEON_PROJECT_ID, settings.NEON_POLL_INTERVAL_S = "neon-key", PROJECT, 0.01
    yield base, name, url
    settings.TARGET_DATABASE_URL = ""
    with psycopg.connect(base, autocommit=True) as conn:
        names = [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (name + "%",))]
    for leftover in names:
        restore.drop_database(base, leftover)


def databases(base: str, prefix: str) -> list[str]:
    with psycopg.connect(base, autocommit=True) as conn:
        return [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (prefix + "%",))]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_database_failover_drill_connects_to_the_branch_checks_it_and_deletes_it(pg_target, settings):
    base, name, url = pg_target
    neon = FakeNeon(base, name)
    settings.NEON_API_URL = neon.url
    try:
        run, steps = drill("database-failover")
    finally:
        neon.server.close()
    check = steps["check_branch"]
    assert run.status == "succeeded", [(s.name, s.status, s.output) for s in steps.values()]
    assert check.data["tables"]["public.pgbench_accounts"] == 100000 and check.data["missing"] == []
    assert "a scratch consumer wrote and read a row" in check.verify_output and check.verified_at
    assert steps["delete_branch"].status == "succeeded"
    assert databases(base, name) == [name]  # the branch is gone, the target stays
    with psycopg.connect(url) as conn:  # and the target never saw the scratch consumer's table
        assert conn.execute("SELECT to_regclass('pitchey_drill_consumer')").fetchone()[0] is None
        assert conn.execute("SELECT count(*) FROM pgbench_accounts").fetchone()[0] == 100000
    assert run.objectives.get(kind="rto", subject="database").met is True
    assert run.objectives.get(kind="rpo", subject="database").achieved_s is not None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_database_failover_drill_fails_on_an_empty_branch_and_still_deletes_it(pg_target, settings):
    base, name, _ = pg_target
    neon = FakeNeon(base, name, empty=True)
    settings.NEON_API_URL = neon.url
    try:
        run, steps = drill("database-failover")
    finally:
        neon.server.close()
    assert run.status == "failed" and steps["check_branch"].status == "failed"
    assert "missing: public.pgbench_accounts" in steps["check_branch"].output
    assert steps["delete_branch"].status == "succeeded" and databases(base, name) == [name]


@pytest.mark.django_db(transaction=True)
def test_database_failover_drill_without_neon_is_inconclusive(settings):
    settings.NEON_API_KEY = ""
    run, steps = drill("database-failover")
    assert run.status == "inconclusive" and steps["branch"].status == "skipped"
    assert run.missing == [{"what": "Neon", "hint": "set NEON_API_KEY and NEON_PROJECT_ID"}]


# --- detection ---------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_detection_drill_injects_errors_and_follows_the_incident_to_its_resolution(cloudflare):
    """The runbook's scenario 2 on a scratch endpoint the drill serves; the Worker is only read."""
    run, steps = drill("detection")
    step = steps["scenario"]
    assert run.status == "succeeded", step.output
    assert step.data["error_rate"] == 1.0 and step.data["outcome"] == "resolved"
    assert [(m["action"], m["status"]) for m in step.data["mitigations"]] == [("restart_worker", "succeeded")]
    assert "would redeploy version v2" in step.data["mitigations"][0]["output"]
    assert cloudflare.posts("pitchey-api") == []  # a dry run: nothing deployed
    incident = Incident.objects.get()
    assert incident.public_id == step.data["incident"]
    assert incident.status == "resolved" and incident.resolution == "Automated mitigation successful"
    assert incident.title.startswith("[DR drill] ") and incident.severity == "P3"
    kinds = list(incident.timeline.values_list("kind", flat=True))
    assert kinds[:2] == ["declared", "automation"] and "mitigation_succeeded" in kinds and "resolved" in kinds
    assert not Probe.objects.filter(name__startswith="drill-detection-").exists()  # scratch rows removed
    assert not AssessmentRule.objects.filter(name__startswith="[DR drill]").exists()


@pytest.mark.django_db(transaction=True)
def test_detection_drill_without_cloudflare_is_inconclusive_and_names_what_to_set(settings):
    settings.CF_API_TOKEN = ""
    run, steps = drill("detection")
    step = steps["scenario"]
    assert run.status == "inconclusive" and step.status == "skipped", step.output
    assert run.missing[0]["hint"] == "set CF_API_TOKEN" and "restart_worker" in run.missing[0]["what"]
    # What could run still ran: the rule fired and the maintenance step (a dry run) let it resolve.
    assert step.data["outcome"] == "resolved"
    assert [m["action"] for m in step.data["mitigations"]] == ["enable_maintenance"]

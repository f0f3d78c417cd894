"""Drills that exercise what they name, on scratch resources only, against real components: a
pgbench-filled PostgreSQL target and the branch the local Neon server makes of it, real Redis servers,
local Cloudflare, Slack, PagerDuty and Statuspage servers that answer as the vendors' specs say."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import subprocess
import threading
from datetime import UTC, datetime
from types import SimpleNamespace

import psycopg
import pytest
import redis
from django.contrib.auth import get_user_model

from backups import restore, targets
from incidents.comms.models import ContactMethod
from incidents.detection.models import AssessmentRule, Probe
from incidents.lifecycle.models import Incident, Mitigation
from incidents.tests.paging_servers import FakeNtfy, FakeTwilio, SmtpServer, body_of
from incidents.tests.vendors import FakePagerDuty, FakeReceiver, FakeSlack, FakeStatuspage
from pitchey_incidents.testing import free_port, start_redis
from recovery import services
from recovery.controls import open_undos
from recovery.models import RuntimeFlag
from recovery.providers.postgres import with_database

from .fakes import FakeCloudflare, FakeServer

PROJECT, ACCOUNT = "proj-drill", "acct-drill"


def drill(scenario: str, actor: str = "commander"):
    run = services.drill_start(scenario=scenario, actor=actor, inline=True)
    run.refresh_from_db()
    return run, {s.name: s for s in run.steps.all()}


# --- communications ---------------------------------------------------------------------------------


VERIFIED = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
ORG_CHANNELS = ["email", "pagerduty", "slack:critical", "slack:incidents", "statuspage", "webhook"]
PERSON_CHANNELS = [
    "person:alice:email",
    "person:alice:push",
    "person:bob:slack",
    "person:bob:sms",
    "person:bob:webhook",
]


@pytest.fixture
def channels(settings):
    """Every channel configured against its local server; email through a real SMTP server."""
    slack, pd, sp, rx = FakeSlack(), FakePagerDuty(), FakeStatuspage(page_id="testpage"), FakeReceiver()
    smtp, ntfy, twilio = SmtpServer(), FakeNtfy(), FakeTwilio(invalid={"+15005550001"})
    settings.SLACK_WEBHOOK = f"{slack.url}/services/T1/B1/incidents"
    settings.SLACK_WEBHOOK_CRITICAL = f"{slack.url}/services/T1/B1/critical"
    settings.SLACK_WEBHOOK_WARNING = ""
    settings.PAGERDUTY_ROUTING_KEY, settings.PAGERDUTY_EVENTS_URL = "R0UT1NGKEY0123456789012345678901", pd.url
    settings.STATUSPAGE_API_KEY, settings.STATUSPAGE_PAGE_ID = sp.api_key, "livepage"
    settings.STATUSPAGE_API_URL, settings.DRILL_STATUSPAGE_PAGE_ID = sp.url, "testpage"
    settings.DRILL_STATUSPAGE_COMPONENT_ID = ""
    settings.OUTGOING_WEBHOOK_URL, settings.OUTGOING_WEBHOOK_SECRET = f"{rx.url}/in", "whsec-drill"
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", smtp.port, False
    settings.DRILL_EMAIL, settings.DRILL_SLACK_WEBHOOK = "drill@example.test", ""
    settings.SMS_GATEWAY_URL, settings.SMS_ACCOUNT_SID, settings.SMS_AUTH_TOKEN = twilio.url, twilio.sid, twilio.token
    settings.SMS_FROM, settings.NTFY_DEFAULT_SERVER = "+15005550006", ntfy.url
    yield SimpleNamespace(slack=slack, pd=pd, sp=sp, rx=rx, smtp=smtp, ntfy=ntfy, twilio=twilio)
    smtp.stop()
    for vendor in (slack, pd, sp, rx, ntfy, twilio):
        vendor.close()


def person(name: str, *methods: tuple[str, str], verified=VERIFIED, failed=None) -> None:
    user = get_user_model().objects.get_or_create(username=name)[0]
    for kind, address in methods:
        ContactMethod.objects.create(user=user, kind=kind, address=address, verified_at=verified, failed_at=failed)


@pytest.fixture
def people(channels):
    """Verified contact methods of every kind, and two that must never be drilled: one not verified
    yet, one that failed for good."""
    person("alice", ("email", "alice@example.test"), ("push", "alice-pages"))
    person("bob", ("sms", "+447700900123"), ("slack", "U012AB3CD"), ("webhook", f"{channels.rx.url}/person-bob"))
    person("carol", ("email", "carol@example.test"), verified=None)
    person("dave", ("push", "dave-pages"), failed=VERIFIED)


@pytest.mark.django_db(transaction=True)
def test_communications_drill_reaches_every_channel_and_each_accepts(channels, people):
    c = channels
    run, steps = drill("communications")
    assert run.status == "succeeded", steps["test_message"].output
    assert sorted(steps["test_message"].data["sent"]) == sorted(ORG_CHANNELS + PERSON_CHANNELS)
    assert sorted(r["path"].rsplit("/", 1)[1] for r in c.slack.posts("/services/")) == [
        "critical",
        "critical",
        "incidents",
    ]
    assert all(m["text"].startswith("[DR drill] ") for m in c.slack.messages("incidents"))
    trigger, resolve = c.pd.events()
    assert trigger["event_action"] == "trigger" and resolve["event_action"] == "resolve"
    key = trigger["dedup_key"]
    assert key.startswith("pitchey-incidents/drill-") and resolve["dedup_key"] == key and c.pd.alerts[key] == "resolved"
    assert [r["path"] for r in c.sp.posts()] == ["/pages/testpage/incidents", "/pages/testpage/incidents/sp1"]
    assert c.sp.incidents["sp1"]["status"] == "resolved" and c.sp.incidents["sp1"]["deliver_notifications"] is False
    (delivery,) = c.rx.posts("/in")
    signed = delivery["headers"]["X-Pitchey-Timestamp"].encode() + b"." + delivery["raw"]
    expected = "sha256=" + hmac.new(b"whsec-drill", signed, hashlib.sha256).hexdigest()
    assert delivery["headers"]["X-Pitchey-Signature"] == expected and delivery["json"]["event"] == "drill"
    (email,) = c.smtp.to("drill@example.test")  # arrived at the SMTP server, not an in-memory outbox
    assert email["Subject"] == "[DR drill] test message" and "no action needed" in body_of(email)
    checklist = {c["item"]: c for c in run.report["checklist"]}
    assert checklist["Notifications sent to all channels"]["status"] == "pass"
    # The person-level channels, each received marked, and only the verified, working methods.
    (to_alice,) = c.smtp.to("alice@example.test")
    assert to_alice["Subject"] == "[DR drill] test message" and c.smtp.to("carol@example.test") == []
    (push,) = c.ntfy.messages()
    assert push["topic"] == "alice-pages" and push["title"] == "[DR drill] test message"
    (sms,) = c.twilio.sms()
    assert sms["To"] == "+447700900123" and sms["Body"].startswith("[DR drill] test message")
    assert "<@U012AB3CD> [DR drill] test message" in [m["text"] for m in c.slack.messages("critical")]
    (hook,) = c.rx.posts("/person-bob")
    assert hook["json"]["subject"] == "[DR drill] test message"


@pytest.mark.django_db(transaction=True)
def test_communications_drill_names_each_missing_channel_and_is_inconclusive(channels, people, settings):
    settings.PAGERDUTY_ROUTING_KEY = settings.DRILL_EMAIL = ""
    settings.DRILL_STATUSPAGE_PAGE_ID = ""  # the live page alone is never drilled on
    run, steps = drill("communications", actor="beat")
    assert run.status == "inconclusive" and steps["test_message"].status == "succeeded"
    assert [m["what"] for m in run.missing] == [
        "PagerDuty",
        "Statuspage test page or component",
        "Email to the drill address",
    ]
    assert channels.pd.requests == [] and channels.sp.requests == []
    assert len(channels.slack.messages("incidents")) == 1 and channels.smtp.to("drill@example.test") == []
    assert "not configured: PagerDuty, Statuspage test page or component" in steps["test_message"].output
    incident = Incident.objects.get()  # a scheduled drill that proved nothing opens a P2
    assert incident.severity == "P2" and "set PAGERDUTY_ROUTING_KEY" in incident.description


@pytest.mark.django_db(transaction=True)
def test_communications_drill_names_each_person_level_channel_nobody_can_be_reached_by(channels, settings):
    person("alice", ("email", "alice@example.test"))
    person("carol", ("push", "carol-pages"), verified=None)
    settings.SMS_ACCOUNT_SID = ""
    run, steps = drill("communications")
    assert run.status == "inconclusive" and steps["test_message"].data["sent"][-1] == "person:alice:email"
    nobody = "nobody has a verified one: a person adds and verifies it on their profile"
    assert run.missing == [
        {"what": "Person-level Push (ntfy)", "hint": nobody},
        {"what": "Person-level SMS", "hint": "set SMS_ACCOUNT_SID, SMS_AUTH_TOKEN and SMS_FROM (and SMS_GATEWAY_URL)"},
        {"what": "Person-level Slack mention", "hint": nobody},
        {"what": "Person-level Personal webhook", "hint": nobody},
    ]
    assert channels.ntfy.requests == [] and channels.twilio.requests == []


@pytest.mark.django_db(transaction=True)
def test_communications_drill_fails_when_a_receiver_refuses(channels, people):
    channels.slack.fail_next(500, "oops")
    run, steps = drill("communications")
    assert run.status == "failed" and "failed: slack (" in steps["test_message"].output
    assert "HTTP 500" in steps["test_message"].output


@pytest.mark.django_db(transaction=True)
def test_communications_drill_fails_when_a_persons_gateway_refuses_their_number(channels, people):
    ContactMethod.objects.filter(kind="sms").update(address="+15005550001")
    run, steps = drill("communications")
    assert run.status == "failed" and "person:bob:sms" in steps["test_message"].data["failed"][0]
    assert "person:bob:email" not in steps["test_message"].data["sent"]  # bob has none; the others went
    assert "person:alice:email" in steps["test_message"].data["sent"]


@pytest.mark.django_db(transaction=True)
def test_communications_drill_refused_by_the_mail_server_fails(channels, people, settings):
    settings.EMAIL_PORT = free_port()  # nothing listens there
    run, steps = drill("communications")
    failed = steps["test_message"].data["failed"]
    assert run.status == "failed" and any(f.startswith("email (ConnectionRefusedError") for f in failed), failed
    assert any(f.startswith("person:alice:email (email: ConnectionRefusedError") for f in failed), failed


@pytest.mark.django_db(transaction=True)
def test_communications_drill_on_a_test_component_of_the_live_page(channels, people, settings):
    """Without a test page, a test component on the live page: the incident names only that component
    and notifies nobody."""
    live = FakeStatuspage(page_id="livepage")
    try:
        settings.STATUSPAGE_API_URL, settings.STATUSPAGE_API_KEY = live.url, live.api_key
        settings.DRILL_STATUSPAGE_PAGE_ID, settings.DRILL_STATUSPAGE_COMPONENT_ID = "", "cmp-drill"
        run, steps = drill("communications")
    finally:
        live.close()
    assert run.status == "succeeded", steps["test_message"].output
    assert [r["path"] for r in live.posts()] == ["/pages/livepage/incidents", "/pages/livepage/incidents/sp1"]
    created = live.posts()[0]["json"]["incident"]
    assert created["component_ids"] == ["cmp-drill"] and created["deliver_notifications"] is False
    assert live.incidents["sp1"]["status"] == "resolved" and channels.sp.requests == []


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
    cf = FakeCloudflare({"pitchey-api": ["v2", "v1"], "pitchey-api-drill": ["s2", "s1"]}, account=ACCOUNT)
    health = FakeServer(lambda method, path, body, headers: (200, {"ok": True}, {}))
    settings.CF_API_TOKEN, settings.CLOUDFLARE_API_URL, settings.CF_ACCOUNT_ID = "cf-token", cf.api_url, ACCOUNT
    settings.CF_WORKER_NAME, settings.DRILL_CF_WORKER_NAME = "pitchey-api", "pitchey-api-drill"
    settings.SERVICE_HEALTH_URLS = {"api": health.url + "/health"}
    yield cf
    cf.close()
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
    assert [r["method"] for r in cloudflare.requests] == ["GET", "GET"]  # deployments, the version
    settings.CF_WORKER_NAME = ""
    run, steps = drill("api-rollback")
    assert run.status == "inconclusive" and steps["rollback"].status == "skipped"
    assert run.missing[0]["what"] == "a Cloudflare Worker to drill on"
    settings.CF_API_TOKEN = ""
    run, _ = drill("api-rollback")
    assert run.status == "inconclusive" and run.missing[0] == {"what": "Cloudflare", "hint": "set CF_API_TOKEN"}


@pytest.mark.django_db(transaction=True)
def test_api_rollback_drill_refuses_a_scratch_worker_that_is_the_platforms_own(cloudflare, settings):
    settings.DRILL_CF_WORKER_NAME = "pitchey-api"
    run, steps = drill("api-rollback")
    assert run.status == "inconclusive" and steps["rollback"].status == "skipped"
    assert "refused: DRILL_CF_WORKER_NAME is the platform's Worker pitchey-api" in steps["rollback"].output
    assert "not the platform's CF_WORKER_NAME" in run.missing[0]["hint"]
    assert [r for r in cloudflare.requests if r["method"] != "GET"] == []  # nothing deployed anywhere
    assert cloudflare.deployments["pitchey-api"][0]["versions"][0]["version_id"] == "v2"


# --- database-failover ------------------------------------------------------------------------------


class FakeNeon:
    """Neon API v2 branches: each branch is a real PostgreSQL database made from the target (its
    template), whose connection URI is handed out; deleting the branch drops it. As Neon does, the
    work happens behind an operation that is ``running`` until it has ``finished`` (or ``failed``)."""

    def __init__(self, base_url: str, target: str, *, empty: bool = False, on_branch: str = "", on_target: str = ""):
        self.base_url, self.target, self.empty = base_url, target, empty
        self.on_branch, self.on_target = on_branch, on_target  # damage to the branch, writes to the target
        self.branches: dict[str, str] = {}
        self.operations: dict[str, str] = {}
        self.lock = threading.Lock()
        self.server = FakeServer(self.answer)
        self.url = self.server.url + "/api/v2"

    def answer(self, method, path, body, headers):
        if headers.get("Authorization") != "Bearer neon-key":
            return 401, {"code": "", "message": "authorization failed"}, {}
        base = f"/api/v2/projects/{PROJECT}"
        if method == "POST" and path == f"{base}/branches":
            return self._create(body)
        if method == "GET" and path.startswith(f"{base}/operations/"):
            op = path.rsplit("/", 1)[1]
            with self.lock:
                status = self.operations.get(op)
            return (200, {"operation": {"id": op, "status": status}}, {}) if status else (404, {"message": "no"}, {})
        if method == "DELETE" and path.startswith(f"{base}/branches/"):
            branch = path.rsplit("/", 1)[1]
            with self.lock:
                name = self.branches.pop(branch, None)
            if name is None:
                return 404, {"code": "", "message": f"branch {branch} not found"}, {}
            op = self._operation(f"op-del-{branch}", lambda: restore.drop_database(self.base_url, name))
            return 200, {"branch": {"id": branch}, "operations": [{"id": op, "status": "running"}]}, {}
        return 404, {"code": "", "message": "not found"}, {}

    def _operation(self, op: str, work) -> str:
        def run():
            try:
                work()
                status = "finished"
            except Exception:
                status = "failed"
            with self.lock:
                self.operations[op] = status

        with self.lock:
            self.operations[op] = "running"
        threading.Thread(target=run, daemon=True).start()
        return op

    def _make_branch(self, name: str, uri: str) -> None:
        with psycopg.connect(self.base_url, autocommit=True) as conn:
            template = "" if self.empty else f' TEMPLATE "{self.target}"'
            conn.execute(f'CREATE DATABASE "{name}"{template}')
        for url, statement in ((uri, self.on_branch), (with_database(self.base_url, self.target), self.on_target)):
            if statement:
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute(statement)

    def _create(self, body):
        with self.lock:
            branch = f"br-{len(self.branches) + 1}"
            name = f"{self.target}_{branch.replace('-', '_')}"
            self.branches[branch] = name
        uri = with_database(self.base_url, name)
        op = self._operation(f"op-{branch}", lambda: self._make_branch(name, uri))
        return (
            201,
            {
                "branch": {"id": branch, "name": body["branch"]["name"]},
                "endpoints": [{"id": f"ep-{branch}", "host": "127.0.0.1"}],
                "operations": [{"id": op, "action": "create_branch", "status": "running"}],
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


def failover_with(pg_target, settings, **neon):
    base, name, _ = pg_target
    fake = FakeNeon(base, name, **neon)
    settings.NEON_API_URL = fake.url
    try:
        return drill("database-failover")
    finally:
        fake.server.close()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_database_failover_drill_fails_on_a_branch_missing_a_table(pg_target, settings):
    run, steps = failover_with(pg_target, settings, on_branch="DROP TABLE pgbench_history")
    check = steps["check_branch"]
    assert run.status == "failed" and check.status == "failed"
    assert "missing: public.pgbench_history" in check.output and check.data["missing"] == ["public.pgbench_history"]
    assert steps["delete_branch"].status == "succeeded"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_database_failover_drill_fails_on_a_branch_missing_rows(pg_target, settings):
    run, steps = failover_with(pg_target, settings, on_branch="DELETE FROM pgbench_accounts WHERE aid <= 10")
    check = steps["check_branch"]
    assert run.status == "failed" and check.status == "failed", check.output
    assert "public.pgbench_accounts: 99990 rows in the copy, 100000 in the source" in check.output
    assert check.data["differ"] == {"public.pgbench_accounts": {"copy": 99990, "source": 100000}}
    assert steps["source"].data["target"]["public.pgbench_accounts"] == 100000


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_database_failover_drill_accepts_rows_written_to_the_source_after_the_branch(pg_target, settings):
    run, steps = failover_with(pg_target, settings, on_target="DELETE FROM pgbench_accounts WHERE aid <= 10")
    check = steps["check_branch"]
    assert run.status == "succeeded", check.output
    assert check.data["tables"]["public.pgbench_accounts"] == 100000 and not check.data["unsettled"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_database_failover_drill_is_inconclusive_when_the_copy_cannot_be_compared(pg_target, settings):
    """The source changed during the drill and the branch holds neither count: not provable either way."""
    run, steps = failover_with(
        pg_target,
        settings,
        on_branch="DELETE FROM pgbench_accounts WHERE aid <= 20",
        on_target="DELETE FROM pgbench_accounts WHERE aid <= 10",
    )
    check = steps["check_branch"]
    assert run.status == "inconclusive", check.output
    assert check.status == "succeeded" and "not comparable: public.pgbench_accounts" in check.output
    assert run.missing == [
        {"what": "a copy comparable with its source", "hint": "run the drill when the source is quiet"}
    ]


@pytest.mark.django_db(transaction=True)
def test_database_failover_drill_without_neon_is_inconclusive(settings):
    settings.NEON_API_KEY = ""
    run, steps = drill("database-failover")
    assert run.status == "inconclusive" and steps["branch"].status == "skipped"
    assert run.missing == [{"what": "Neon", "hint": "set NEON_API_KEY and NEON_PROJECT_ID"}]


# --- detection ---------------------------------------------------------------------------------------


SCRATCH = "pitchey-api-drill"


def deployed(cf: FakeCloudflare, script: str) -> list[str]:
    return [r["body"]["versions"][0]["version_id"] for r in cf.posts(script) if r["path"].endswith("/deployments")]


def asked_of(cf: FakeCloudflare, script: str) -> list[dict]:
    return [r for r in cf.requests if f"/scripts/{script}/" in r["path"]]


@pytest.mark.django_db(transaction=True)
def test_detection_drill_rolls_the_scratch_worker_back_and_the_endpoint_recovers_because_of_it(cloudflare):
    """The runbook's scenario 2 for real on the scratch Worker: its live version s2 is marked bad, the
    endpoint answers 500 while s2 is live; the chain redeploys s2 (still 500), rolls back to s1 (200), the
    incident resolves by itself; the scratch Worker is put forward to s2 again. The real one is never asked."""
    run, steps = drill("detection")
    step = steps["scenario"]
    assert run.status == "succeeded", step.output
    assert step.data["error_rate"] == 1.0 and step.data["outcome"] == "resolved"
    assert (step.data["worker"], step.data["marked_bad"], step.data["live_at_end"]) == (SCRATCH, "s2", "s1")
    assert [(m["action"], m["status"]) for m in step.data["mitigations"]] == [
        ("restart_worker", "succeeded"),
        ("rollback_deploy", "succeeded"),
    ]
    assert deployed(cloudflare, SCRATCH) == ["s2", "s1", "s2"]  # redeploy, roll back, forward again
    assert cloudflare.live(SCRATCH) == "s2" and cloudflare.secrets[SCRATCH] == {}
    assert asked_of(cloudflare, "pitchey-api") == [] and cloudflare.live("pitchey-api") == "v2"
    assert step.data["restored"]["ok"] and f"scratch Worker {SCRATCH} restored as before the drill" in step.output
    incident = Incident.objects.get()
    assert incident.public_id == step.data["incident"] and incident.title.startswith("[DR drill] ")
    assert incident.severity == "P3"
    assert incident.status == "resolved" and incident.resolution == "Automated mitigation successful"
    assert list(Mitigation.objects.filter(incident=incident).values_list("action", "params", "dry_run")) == [
        ("restart_worker", {"scratch": True}, False),
        ("rollback_deploy", {"scratch": True}, False),
    ]
    notes = list(incident.timeline.filter(kind="automation").values_list("message", flat=True))
    assert notes[0].startswith("Automated chain started: restart_worker → rollback_deploy → enable_maintenance")
    assert any(n.startswith("Verify after restart_worker: ") and "still failing" in n for n in notes), notes
    assert any(n.startswith("Verify after rollback_deploy: ") for n in notes), notes
    kinds = [k for k in incident.timeline.values_list("kind", flat=True) if k != "paged"]
    assert kinds[0] == "declared" and kinds.count("mitigation_succeeded") == 2 and "escalated" not in kinds
    assert kinds.index("resolved") < len(kinds) - 1 and notes[-1].startswith("DR drill clean-up: ")
    assert open_undos(incident=incident.public_id) == []  # the forward again was the rollback's undo
    assert not RuntimeFlag.objects.filter(enabled=True).exists()
    assert not Probe.objects.filter(name__startswith="drill-detection-").exists()  # scratch rows removed
    assert not AssessmentRule.objects.filter(name__startswith="[DR drill]").exists()


@pytest.mark.django_db(transaction=True)
def test_detection_drill_fails_when_the_chain_does_not_fix_the_endpoint_and_still_puts_the_worker_back(cloudflare):
    """The rollback is refused (the scratch Worker's earlier version is gone): the redeploy and the
    maintenance secret leave the endpoint failing; the chain escalates and the drill fails, not green."""
    cloudflare.versions[SCRATCH].remove("s1")
    run, steps = drill("detection")
    step = steps["scenario"]
    assert run.status == "failed" and step.data["outcome"] == "escalated", step.output
    assert [(m["action"], m["status"]) for m in step.data["mitigations"]] == [
        ("restart_worker", "succeeded"),
        ("rollback_deploy", "failed"),
        ("enable_maintenance", "succeeded"),
    ]
    secret_edits = [(r["method"], r["path"].rsplit("/scripts/", 1)[1]) for r in cloudflare.changes(SCRATCH)]
    assert ("PUT", f"{SCRATCH}/secrets") in secret_edits and (
        "DELETE",
        f"{SCRATCH}/secrets/MAINTENANCE_MODE",
    ) in secret_edits
    assert cloudflare.live(SCRATCH) == "s2" and cloudflare.secrets[SCRATCH] == {}  # put back all the same
    assert step.data["restored"]["ok"] and asked_of(cloudflare, "pitchey-api") == []
    assert not RuntimeFlag.objects.filter(enabled=True).exists()  # the platform's maintenance never went on
    assert Incident.objects.filter(title="DR drill detection failed").exists()  # a failed drill is loud
    incident = Incident.objects.get(source="probe")
    assert incident.escalation_level == 1 and incident.status == "resolved"
    assert incident.resolution == "DR drill over: the automated chain did not resolve it"


@pytest.mark.django_db(transaction=True)
def test_detection_drill_without_a_scratch_worker_is_inconclusive_and_names_what_to_set(cloudflare, settings):
    settings.DRILL_CF_WORKER_NAME = ""
    run, steps = drill("detection")
    step = steps["scenario"]
    assert run.status == "inconclusive" and step.status == "skipped", step.output
    assert run.missing[0]["what"] == "a scratch Cloudflare Worker for the chain to act on"
    assert "set DRILL_CF_WORKER_NAME" in run.missing[0]["hint"]
    # What it could prove, it did: the rule fired and opened an incident; no chain ran, nothing was asked.
    assert step.data["error_rate"] == 1.0 and step.data["mitigations"] == [] and "the chain was not run" in step.output
    incident = Incident.objects.get()
    assert incident.public_id == step.data["incident"] and not incident.mitigations.exists()
    assert incident.resolution == "DR drill over: no chain ran (no scratch Worker)"
    assert cloudflare.requests == []
    settings.DRILL_CF_WORKER_NAME = "pitchey-api"  # the platform's own Worker is no scratch Worker
    run, _ = drill("detection")
    assert run.status == "inconclusive" and cloudflare.requests == []
    settings.DRILL_CF_WORKER_NAME, settings.CF_API_TOKEN = SCRATCH, ""
    run, _ = drill("detection")
    assert run.status == "inconclusive" and "DRILL_CF_WORKER_NAME" in run.missing[0]["hint"]
    assert cloudflare.requests == []

"""Neon and Cloudflare providers against local servers that answer as the vendors' specs say."""

import pytest

from recovery.actions import get_action
from recovery.models import RuntimeFlag
from recovery.providers import REGISTRY

from .fakes import FakeCloudflare, FakeServer

PROJECT, ENDPOINT, ACCOUNT, ZONE, WORKER = "proj-1", "ep-1", "acct-1", "zone-1", "pitchey-api"


def _neon_restart(state):
    if not state["rate_limited"]:
        state["rate_limited"] = True
        return 429, {"code": "", "message": "rate limit"}, {"Retry-After": "0"}
    return (
        200,
        {
            "endpoint": {"id": ENDPOINT},
            "operations": [{"id": "op-1", "action": "restart_compute", "status": "running"}],
        },
        {},
    )


def _neon_branch_created(body):
    return (
        201,
        {
            "branch": {"id": "br-new", "name": body["branch"]["name"]},
            "endpoints": [{"id": "ep-new", "host": "ep-new.example.neon.tech"}],
            "operations": [{"id": "op-2", "action": "create_branch", "status": "running"}],
            "connection_uris": [{"connection_uri": "postgresql://u:secret@ep-new/db"}],
        },
        {},
    )


def _neon_answer(state, method, path, body):
    base = f"/api/v2/projects/{PROJECT}"
    if method == "POST" and path == f"{base}/endpoints/{ENDPOINT}/restart":
        return _neon_restart(state)
    if method == "GET" and path == f"{base}/operations/op-1":
        state["polls"] += 1
        status = "finished" if state["polls"] >= 2 else "running"
        return 200, {"operation": {"id": "op-1", "action": "restart_compute", "status": status}}, {}
    if method == "POST" and path == f"{base}/branches":
        return _neon_branch_created(body)
    if method == "GET" and path == f"{base}/operations/op-2":
        return 200, {"operation": {"id": "op-2", "status": "failed", "error": "no space"}}, {}
    if method == "PATCH" and path == f"{base}/endpoints/{ENDPOINT}":
        return 400, {"code": "", "message": "autoscaling_limit_max_cu too large", "request_id": "r1"}, {}
    return 404, {"code": "", "message": "not found"}, {}


@pytest.fixture
def neon(settings):
    state = {"polls": 0, "rate_limited": False}

    def handler(method, path, body, headers):
        if headers.get("Authorization") != "Bearer neon-key":
            return 401, {"code": "", "message": "authorization failed"}, {}
        return _neon_answer(state, method, path, body)

    server = FakeServer(handler)
    settings.NEON_API_URL = server.url + "/api/v2"
    settings.NEON_API_KEY, settings.NEON_PROJECT_ID, settings.NEON_ENDPOINT_ID = "neon-key", PROJECT, ENDPOINT
    settings.NEON_POLL_INTERVAL_S = 0.01
    settings.PROVIDER_RETRY_BASE_S = 0.01
    yield server, state
    server.close()


def test_neon_restart_retries_429_and_waits_for_the_operation(neon):
    server, state = neon
    outcome = REGISTRY["neon"].run("restart_endpoint")
    assert outcome.ok, outcome.output
    calls = [(r["method"], r["path"]) for r in server.requests]
    restart = ("POST", f"/api/v2/projects/{PROJECT}/endpoints/{ENDPOINT}/restart")
    assert calls[:2] == [restart, restart]  # the 429 was retried
    assert calls.count(("GET", f"/api/v2/projects/{PROJECT}/operations/op-1")) == 2
    assert outcome.data["operations"] == [
        {"id": "op-1", "action": "restart_compute", "status": "finished", "error": None}
    ]


def test_neon_branch_from_pitr_sends_the_spec_shape_and_reports_a_failed_operation(neon):
    server, _ = neon
    outcome = REGISTRY["neon"].run("branch_from_pitr", {"timestamp": "2026-11-27T01:00:00Z", "name": "rec-1"})
    sent = server.requests[0]
    assert sent["body"] == {
        "branch": {"name": "rec-1", "parent_timestamp": "2026-11-27T01:00:00Z"},
        "endpoints": [{"type": "read_write"}],
    }
    assert not outcome.ok and "failed" in outcome.output
    assert outcome.data["branch_id"] == "br-new" and outcome.data["point_in_time"] == "2026-11-27T01:00:00Z"
    assert "secret" not in outcome.output


def test_neon_branch_by_lsn_and_dry_run(neon):
    server, _ = neon
    dry = REGISTRY["neon"].run("branch_from_pitr", {"lsn": "0/1A2B3C"}, dry_run=True)
    assert dry.ok and "would create" in dry.output and server.requests == []
    REGISTRY["neon"].run("branch_from_pitr", {"lsn": "0/1A2B3C", "name": "x"})
    assert server.requests[0]["body"]["branch"] == {"name": "x", "parent_lsn": "0/1A2B3C"}


def test_neon_error_is_permanent_and_named(neon):
    server, _ = neon
    outcome = REGISTRY["neon"].run("resize", {"min_cu": 1, "max_cu": 8})
    assert not outcome.ok and "HTTP 400" in outcome.output and outcome.data["permanent"]
    assert len(server.requests) == 1  # a 400 is not retried
    assert server.requests[0]["body"] == {
        "endpoint": {"autoscaling_limit_min_cu": 1.0, "autoscaling_limit_max_cu": 8.0}
    }


def test_neon_unconfigured_is_skipped(settings):
    settings.NEON_API_KEY = ""
    outcome = REGISTRY["neon"].run("restart_endpoint")
    assert outcome.skipped and not outcome.ok


SCRIPT = f"/client/v4/accounts/{ACCOUNT}/workers/scripts/{WORKER}"
# The live deployment of v3; the one before it split v2 (90 %) and v1 (10 %).
DEPLOYMENTS = [
    {"id": "d-live", "versions": [{"version_id": "v3", "percentage": 100}]},
    {
        "id": "d-prev",
        "versions": [
            {"version_id": "v2", "percentage": 90},
            {"version_id": "v1", "percentage": 10},
        ],
    },
]


@pytest.fixture
def cloudflare(settings):
    """The local Cloudflare server; each deployment needs ``?force=true`` (error 10220 without it)."""
    server = FakeCloudflare({WORKER: ["v3", "v2", "v1"]}, account=ACCOUNT, zone=ZONE, worker=WORKER)
    server.deployments[WORKER] = [dict(d) for d in DEPLOYMENTS]
    server.force_required = 1000
    settings.CLOUDFLARE_API_URL = server.api_url
    settings.CF_API_TOKEN, settings.CF_ACCOUNT_ID, settings.CF_ZONE_ID, settings.CF_WORKER_NAME = (
        server.token,
        ACCOUNT,
        ZONE,
        WORKER,
    )
    settings.PROVIDER_RETRY_BASE_S = 0.01
    yield server
    server.close()


def test_cloudflare_rollback_deploys_previous_version_at_100_with_force_on_10220(cloudflare):
    server = cloudflare
    outcome = REGISTRY["cloudflare"].run("rollback_worker")
    assert outcome.ok, outcome.output
    assert outcome.data["from"] == "v3" and outcome.data["to"] == "v2"
    posts = [r for r in server.requests if r["method"] == "POST"]
    assert [p["path"].rsplit("/", 1)[-1] for p in posts] == ["deployments", "deployments?force=true"]
    assert posts[-1]["body"] == {"strategy": "percentage", "versions": [{"version_id": "v2", "percentage": 100}]}
    assert len(server.deployments[WORKER]) == 3 and server.live() == "v2"


def test_cloudflare_purge_retries_429_and_sends_purge_everything(cloudflare):
    server = cloudflare
    server.rate_limited = 1
    outcome = REGISTRY["cloudflare"].run("purge_cache")
    purges = [r for r in server.requests if r["path"] == f"/client/v4/zones/{ZONE}/purge_cache"]
    assert outcome.ok and len(purges) == 2 and server.purges == [{"purge_everything": True}]
    assert server.requests[-1]["body"] == {"purge_everything": True}


def test_cloudflare_secret_shape_and_dry_run(cloudflare):
    server = cloudflare
    assert REGISTRY["cloudflare"].run("set_secret", {"secret": "MAINTENANCE_MODE"}, dry_run=True).ok
    assert server.requests == []
    outcome = REGISTRY["cloudflare"].run("set_secret", {"secret": "READ_ONLY_MODE", "value": "true"})
    assert outcome.ok
    assert server.requests[0]["body"] == {"name": "READ_ONLY_MODE", "text": "true", "type": "secret_text"}
    refused = REGISTRY["cloudflare"].run("set_secret", {"secret": "AWS_KEY"})
    assert not refused.ok and len(server.requests) == 1


def test_cloudflare_auth_error_fails_without_retry(cloudflare, settings):
    server = cloudflare
    settings.CF_API_TOKEN = "wrong"
    outcome = REGISTRY["cloudflare"].run("redeploy_worker")
    assert not outcome.ok and "HTTP 403" in outcome.output and len(server.requests) == 1


def test_cloud_actions_are_in_the_registry(cloudflare):

    result = get_action("purge_edge_cache").run({}, dry_run=True)
    assert result.ok and "would purge everything" in result.output
    for name in ("rollback_deploy", "branch_from_pitr", "scale_database", "purge_edge_cache"):
        assert get_action(name).describe()["name"] == name


def test_restart_worker_redeploys_the_live_version_as_a_new_deployment(cloudflare):
    """The runbook's applyMitigation('restart_worker'): the platform's Worker, not our Celery pool."""
    server = cloudflare
    action = get_action("restart_worker")
    assert action.clean({}) == {} and action.available() == (True, "")
    dry = action.run({}, dry_run=True)
    assert dry.ok and dry.output == "would redeploy version v3 at 100 %"
    assert [r["method"] for r in server.requests] == ["GET"]
    done = action.run({})
    assert done.ok and done.data == {"version": "v3", "deployment": server.deployments[WORKER][0]["id"]}, done.output
    assert server.live() == "v3" and len(server.deployments[WORKER]) == 3
    posts = [r for r in server.requests if r["method"] == "POST"]
    assert posts[-1]["path"] == f"{SCRIPT}/deployments?force=true"
    assert posts[-1]["body"] == {"strategy": "percentage", "versions": [{"version_id": "v3", "percentage": 100}]}


def test_restart_database_endpoint_restarts_the_neon_endpoint(neon):
    server, _ = neon
    outcome = get_action("restart_database_endpoint").run({})
    assert outcome.ok and outcome.output == f"endpoint {ENDPOINT} restart finished"
    assert ("POST", f"/api/v2/projects/{PROJECT}/endpoints/{ENDPOINT}/restart") in [
        (r["method"], r["path"]) for r in server.requests
    ]


def test_restart_actions_say_what_to_set_when_unconfigured(settings):
    settings.CF_API_TOKEN, settings.NEON_API_KEY = "", ""
    assert get_action("restart_worker").available() == (False, "set CF_API_TOKEN")
    assert get_action("restart_database_endpoint").available() == (False, "set NEON_API_KEY and NEON_PROJECT_ID")


@pytest.fixture
def with_scratch(settings):
    """The platform's Worker and a scratch Worker on the local Cloudflare server."""
    server = FakeCloudflare({WORKER: ["v3", "v2"], "scratch-api": ["s2", "s1"]}, account=ACCOUNT, zone=ZONE)
    settings.CLOUDFLARE_API_URL, settings.CF_API_TOKEN, settings.CF_ACCOUNT_ID = server.api_url, server.token, ACCOUNT
    settings.CF_WORKER_NAME, settings.DRILL_CF_WORKER_NAME, settings.PROVIDER_RETRY_BASE_S = WORKER, "scratch-api", 0.01
    yield server
    server.close()


@pytest.mark.django_db
def test_scratch_actions_act_on_the_scratch_worker_only_and_refuse_without_one(with_scratch, settings):
    server = with_scratch
    rollback = get_action("rollback_deploy")
    outcome = rollback.run(rollback.clean({"scratch": True}))
    assert outcome.ok and outcome.output == "rolled back on scratch Worker scratch-api to version s1", outcome.output
    assert server.live("scratch-api") == "s1"
    assert rollback.undo({"scratch": True}, outcome)["params"] == {"version_id": "s2", "scratch": True}
    on = get_action("enable_maintenance").run({"scratch": True})  # 10215 first: the latest (s2) deployed first
    assert on.ok and "deployed the latest version s2 first" in on.output and on.data["changed"] == ["scratch Worker"]
    assert server.secrets == {WORKER: {}, "scratch-api": {"MAINTENANCE_MODE": "true"}}
    assert not RuntimeFlag.objects.exists()  # no switch of the platform's: no row, no banner
    off = get_action("disable_maintenance").run({"scratch": True})
    assert off.ok and server.secrets["scratch-api"] == {} and off.data["deleted"] is True
    assert [r for r in server.requests if f"/scripts/{WORKER}/" in r["path"]] == []  # the real Worker: never asked
    for unsafe, why in (("", "set DRILL_CF_WORKER_NAME"), (WORKER, "must not be the platform's Worker")):
        settings.DRILL_CF_WORKER_NAME = unsafe
        sent = len(server.requests)
        refused = get_action("restart_worker").run({"scratch": True})
        assert not refused.ok and why in refused.output and len(server.requests) == sent
    assert server.live(WORKER) == "v3" and server.secrets[WORKER] == {}

"""Detection without Prometheus: health endpoints served by the tests (sampled into rows, error rate and
latency percentiles over a window, pruned), Cloudflare Workers analytics on the local Cloudflare server,
the PostgreSQL target (real server), Redis on a shared server (real redis-server)."""

from __future__ import annotations

import psycopg
import pytest
import redis

from incidents.detection import services as detection
from incidents.detection.models import HealthSample, Probe, ProbeKind, ProbeStatus
from incidents.detection.probes import get_check
from incidents.detection.probes.http import percentile
from incidents.detection.tasks import health_sample as health_sample_task
from pitchey_incidents.targets import libpq_url
from pitchey_incidents.testing import ClosingServer, database_url_for_subprocess, free_port, start_redis, wait_for
from recovery.models import Service
from recovery.tests.fakes import FakeCloudflare, HealthEndpoint

pytestmark = pytest.mark.django_db


@pytest.fixture
def endpoint(settings):
    """A health endpoint whose answers the test scripts: ``codes`` is consumed one per request (then 200)."""
    codes: list[int] = []
    server = HealthEndpoint(lambda: codes.pop(0) if codes else 200)
    settings.SERVICE_HEALTH_URLS = {"api": server.url}
    detection.probes_sync_http()
    yield codes, Probe.objects.get(name="http-api")
    server.close()


def test_beat_samples_each_health_endpoint_into_rows_and_the_check_reports_the_window(endpoint, clock):
    codes, probe = endpoint
    codes += [503, 200, 500, 200, 200, 200, 200, 200, 200]
    for _ in range(9):
        clock.advance(seconds=10)
        assert health_sample_task() == 1  # beat's task: one sample of each endpoint
    rows = list(HealthSample.objects.filter(probe=probe).order_by("at").values_list("status_code", "ok"))
    assert rows[:3] == [(503, False), (200, True), (500, False)] and len(rows) == 9
    clock.advance(seconds=10)
    outcome = get_check("http").run(probe)  # the check's own sample is the tenth, a 200
    assert outcome.data["samples"] == 10 and outcome.data["errors"] == 2 and outcome.data["error_rate"] == 0.2
    assert {"p50_latency_ms", "p95_latency_ms", "p99_latency_ms"} <= set(outcome.data)
    assert outcome.status == "degraded" and "20% errors in 10 sample(s)" in outcome.output
    clock.advance(seconds=301)  # the window moves on: the errors are out of it
    later = get_check("http").run(probe)
    assert (later.status, later.data["samples"], later.data["error_rate"]) == ("ok", 1, 0.0)


def test_the_high_error_rate_rule_fires_on_the_window_and_samples_are_pruned(endpoint, clock, settings):
    codes, probe = endpoint
    codes += [500] * 3
    for _ in range(3):
        detection.health_sample_all()
        clock.advance(seconds=5)
    report = detection.detection_run(mitigate=False, probes=[probe])  # this sample answers 200
    check = report.checks[0]
    assert check.status == "degraded" and check.metrics["error_rate"] == 0.75
    assert [(i.rule, i.severity) for i in report.issues] == [("Critical error rate (health endpoints)", "P1")]
    assert report.issues[0].chain == ["restart_worker", "rollback_deploy", "enable_maintenance"]
    settings.HEALTH_SAMPLE_KEEP_S = 60
    clock.advance(seconds=3600)
    detection.health_sample_all()
    pruned = detection.probe_results_prune()
    assert pruned >= 4 and HealthSample.objects.filter(probe=probe).count() == 1


def test_an_unanswering_endpoint_is_a_failed_sample_and_down(settings):
    service = Service.objects.get(slug="api")
    url = f"http://127.0.0.1:{free_port()}/health"
    probe = Probe.objects.create(
        name="http-gone", label="gone", kind=ProbeKind.HTTP, service=service, config={"url": url}
    )
    outcome = get_check("http").run(probe)
    assert outcome.status == "down" and "ConnectionError" in outcome.output
    sample = HealthSample.objects.get(probe=probe)
    assert sample.ok is False and sample.status_code is None and sample.error


def test_percentile_is_nearest_rank():
    assert percentile([], 0.99) is None
    assert percentile([5, 1, 3, 2, 4], 0.5) == 3 and percentile(list(range(1, 101)), 0.99) == 99


# --- Cloudflare Workers analytics --------------------------------------------------------------------


@pytest.fixture
def workers(settings):
    cf = FakeCloudflare({"pitchey-api": ["v1"]}, account="acct-1")
    settings.CF_API_TOKEN, settings.CLOUDFLARE_API_URL, settings.CF_ACCOUNT_ID = "cf-token", cf.api_url, "acct-1"
    settings.CF_WORKER_NAME, settings.PROVIDER_RETRY_BASE_S = "pitchey-api", 0.01
    yield cf
    cf.close()


def test_workers_analytics_asks_graphql_for_the_worker_and_the_rule_fires_on_errors(workers):
    workers.analytics["pitchey-api"] = {"requests": 2000, "errors": 300, "cpuTimeP50": 800, "cpuTimeP99": 4200}
    workers.rate_limited = 1  # the first call is refused with 429: retried
    probe = Probe.objects.get(name="workers-errors")
    report = detection.detection_run(mitigate=False, probes=[probe])
    check = report.checks[0]
    assert check.status == "degraded" and check.metrics["error_rate"] == 0.15
    assert check.metrics["cpu_time_p99_us"] == 4200 and "CPU p99 4.2 ms" in check.detail
    assert [i.rule for i in report.issues] == ["High Worker error rate"]
    sent = [r for r in workers.requests if r["path"] == "/client/v4/graphql"]
    assert len(sent) == 2 and sent[-1]["headers"]["Authorization"] == "Bearer cf-token"
    variables = sent[-1]["body"]["variables"]
    assert variables["accountTag"] == "acct-1" and variables["scriptName"] == "pitchey-api"
    assert variables["since"].endswith("Z") and variables["until"].endswith("Z")
    assert "workersInvocationsAdaptive" in sent[-1]["body"]["query"]


def test_workers_analytics_errors_are_no_finding_and_unconfigured_says_what_to_set(workers, settings):
    probe = Probe.objects.get(name="workers-errors")
    workers.analytics["pitchey-api"] = {"requests": 100, "errors": 0}
    assert get_check("cloudflare").run(probe).status == "ok"
    settings.CF_ACCOUNT_ID = "acct-other"  # GraphQL answers with no account
    assert get_check("cloudflare").run(probe).data["requests"] == 0
    settings.CF_ACCOUNT_ID, settings.CF_API_TOKEN = "acct-1", "wrong"
    refused = get_check("cloudflare").run(probe)
    assert refused.status == "skipped" and "Workers analytics unavailable" in refused.output and "403" in refused.output
    settings.CF_API_TOKEN = ""
    assert get_check("cloudflare").run(probe).output == "set CF_API_TOKEN, CF_ACCOUNT_ID and CF_WORKER_NAME"


# --- PostgreSQL target, Redis on a shared server -----------------------------------------------------


@pytest.mark.postgres  # probes this test's own database
def test_postgres_probe_reports_connections_and_the_longest_open_transaction(settings):
    url = database_url_for_subprocess()
    settings.TARGET_DATABASE_URL = url
    probe = Probe.objects.get(name="database")
    with psycopg.connect(libpq_url(url)) as held:
        held.execute("SELECT txid_current()")  # a transaction stays open in this session

        def long_enough():
            outcome = get_check("postgres").run(probe)
            return outcome if outcome.data["longest_transaction_s"] >= 1 else None

        outcome = wait_for(long_enough, timeout=30, message="the open transaction to be a second old")
        held.rollback()
    assert outcome.data["connections"] >= 2 and outcome.data["max_connections"] > 0
    assert "longest transaction" in outcome.output
    assert "replication_lag_s" not in outcome.data  # a primary without replicas: no lag to report


@pytest.mark.django_db(transaction=True)
def test_redis_probe_on_a_shared_server_names_the_databases_that_skew_the_hit_rate(tmp_path, settings):
    proc, url = start_redis(tmp_path)
    try:
        base = url.rsplit("/", 1)[0]
        settings.TARGET_REDIS_URL = base + "/3"
        broker = redis.Redis.from_url(base + "/0")
        broker.set("queued", 1)
        own = redis.Redis.from_url(base + "/3")
        own.set("session:1", 1)
        probe = Probe.objects.get(name="cache")
        outcome = get_check("redis").run(probe)
        assert outcome.data["db"] == 3 and outcome.data["own_keys"] == 1 and outcome.data["shared_with"] == [0]
        assert "server-wide: skewed by db 0" in outcome.output
        broker.delete("queued")
        assert "shared_with" not in get_check("redis").run(probe).data
    finally:
        proc.stop()


@pytest.mark.django_db
def test_the_redis_probe_tries_once_and_says_down(settings):
    slammer = ClosingServer()
    settings.TARGET_REDIS_URL = slammer.url
    outcome = get_check("redis").run(Probe.objects.get(name="cache"))
    slammer.close()
    assert outcome.status == ProbeStatus.DOWN and slammer.accepted == 1  # redis-py's default: eleven

"""Fixtures for the incidents tests: pages per role, the runbook's defaults, spec-faithful vendor servers."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.contrib.auth.hashers import make_password
from django.db import connections
from django.test import Client
from playwright.sync_api import sync_playwright

from backups.tests.pgcluster import pitr_source  # noqa: F401  (a fixture)
from incidents.lifecycle import services
from incidents.tests.vendors import FakePagerDuty, FakeReceiver, FakeSlack, FakeStatuspage
from pitchey_incidents.celery import app
from pitchey_incidents.testing import CHROMIUM_ARGS, CHROMIUM_PATH, chromium_env, start_web
from recovery.tests.targets import cf_server, neon_server, pg_protected  # noqa: F401  (Cloudflare, Neon, PostgreSQL)


@pytest.fixture
def vendors(settings):
    """Local Slack, PagerDuty, Statuspage and webhook receiver, configured in settings; ``.env`` has
    the same configuration for a worker process."""
    slack, pd, sp, rx = FakeSlack(), FakePagerDuty(), FakeStatuspage(), FakeReceiver()
    env = {
        "SLACK_WEBHOOK": f"{slack.url}/services/T0001/B0001/secret-incidents",
        "SLACK_WEBHOOK_CRITICAL": f"{slack.url}/services/T0001/B0001/secret-critical",
        "SLACK_WEBHOOK_WARNING": f"{slack.url}/services/T0001/B0001/secret-warning",
        "PAGERDUTY_ROUTING_KEY": "R0UT1NGKEY0123456789012345678901",
        "PAGERDUTY_EVENTS_URL": pd.url,
        "STATUSPAGE_API_KEY": sp.api_key,
        "STATUSPAGE_PAGE_ID": sp.page_id,
        "STATUSPAGE_API_URL": sp.url,
        "OUTGOING_WEBHOOK_URL": f"{rx.url}/in",
        "OUTGOING_WEBHOOK_SECRET": "whsec-test",
    }
    for name, value in env.items():
        setattr(settings, name, value)
    settings.NOTIFICATION_RETRY_BASE_S = 0.2
    worker_env = {**env, "NOTIFICATION_LEASE_S": "3", "NOTIFICATION_RETRY_BASE_S": "0.2", "HTTP_TIMEOUT_S": "20"}
    yield SimpleNamespace(slack=slack, pagerduty=pd, statuspage=sp, receiver=rx, env=worker_env)
    for vendor in (slack, pd, sp, rx):
        vendor.close()


@pytest.fixture
def clean_broker():
    """Drop messages earlier tests left on this run's queues (beat ticks, lost deliveries), so a new
    worker starts on this test's work. The broker and key prefix are this test run's own."""

    with app.connection_for_write() as conn:
        for queue in ("critical", "default", "long"):
            try:
                conn.default_channel.queue_purge(queue)
            except Exception:  # a queue that was never declared has nothing to purge
                pass


@pytest.fixture
def page(users):
    """``page(role)`` → a Django test client logged in as that role's user (``None`` = anonymous)."""

    def client(role, **kwargs) -> Client:
        c = Client(**kwargs)
        if role:
            c.force_login(users[role])
        return c

    return client


@pytest.fixture
def incident(users):
    return services.incident_declare(
        severity="P1", title="High error rate on the API", services=["api"], actor=users["commander"]
    )


# --- the browser tests: one web server per module; Chromium and a worker per test ---------------------


@pytest.fixture
def browser(transactional_db, monkeypatch):
    """Headless Chromium for one test. Playwright's sync API keeps an event loop running in this thread
    while it runs, and the ORM then keeps its connections per context: it starts after the test's
    database is set up, and closes the connections the test opened before the database is reset."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # the test's own ORM calls are plain sync
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS, headless=True, env=chromium_env()
        )
        yield chromium
        chromium.close()
        connections.close_all()  # the connections of this test's contexts, while they are still its own


@pytest.fixture(scope="module")
def web_server(tmp_path_factory, django_db_setup):
    """The production web server on the test database, once for a module: it keeps nothing of a request
    but its database rows, which every transactional test gets back as seeded."""
    proc, base = start_web(tmp_path_factory.mktemp("web"))
    yield base
    proc.stop()


@pytest.fixture
def site(web_server, transactional_db, users, worker):
    """The web server and a worker of this test's own; the commander can log in through the form."""
    users["commander"].password = make_password("correct horse battery", hasher="pbkdf2_sha256")
    users["commander"].save()
    worker()
    return web_server

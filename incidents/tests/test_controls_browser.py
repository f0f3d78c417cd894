"""The emergency controls in real headless Chromium, by keyboard, against the production web server,
a pgbench PostgreSQL target and the local Cloudflare server: read-only turned on from /controls/
makes writes to the protected database fail and sets the Worker secret; the banner shows on every
page until it is turned off, and a page left open shows it and drops it without a reload; a double
click runs a control once."""

import os
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from playwright.sync_api import expect

from incidents.tests.sse import session_cookie
from pitchey_incidents.testing import CHROMIUM_PATH, start_web
from recovery.controls import control_run
from recovery.models import ControlRun
from recovery.tests.targets import write_once

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),  # the server reads committed rows
    pytest.mark.skipif(
        not Path(CHROMIUM_PATH).exists() and not os.environ.get("CHROMIUM_PATH"),
        reason="needs Chromium at /usr/bin/chromium (apt-get install chromium; .ci/run does)",
    ),
]


@pytest.fixture
def site(tmp_path, transactional_db, users, pg_protected, cf_server):
    proc, base = start_web(
        tmp_path,
        TARGET_DATABASE_URL=pg_protected,
        CF_API_TOKEN=cf_server.token,
        CF_ACCOUNT_ID=cf_server.account,
        CF_ZONE_ID=cf_server.zone,
        CF_WORKER_NAME=cf_server.worker,
        CLOUDFLARE_API_URL=cf_server.url + "/client/v4",
        SWITCH_BANNER_POLL_S="1",
    )
    yield base
    proc.stop()


@pytest.fixture
def browser_as(site, users, browser):
    """``browser_as(role)`` → a new Chromium page logged in as that role's user."""

    def open_as(role: str):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        cookie = {"name": settings.SESSION_COOKIE_NAME, "value": session_cookie(users[role]), "url": site}
        context.add_cookies([cookie])
        return context.new_page()

    return open_as


@pytest.fixture
def commander_page(browser_as):
    return browser_as("commander")


def test_read_only_from_the_page_stops_writes_sets_the_secret_and_shows_the_banner(
    site, commander_page, pg_protected, cf_server
):
    page = commander_page
    expect.set_options(timeout=15_000)
    page.goto(site + "/controls/")
    card = page.locator("#control-read_only_on")
    # By keyboard: preview first (the exact request, nothing sent), then confirm and run.
    card.get_by_role("button", name="Preview").press("Enter")
    expect(card.locator(".control-answer")).to_contain_text("/workers/scripts/pitchey-api/secrets")
    expect(card.locator(".control-answer")).to_contain_text("(not sent)")
    assert cf_server.secrets[cf_server.worker] == {}
    write_once(pg_protected)
    card.get_by_label("Yes: stop all writes to the platform").press("Space")
    card.get_by_role("button", name="Run: Enable read-only mode").press("Enter")
    expect(card.locator(".control-answer")).to_contain_text(
        "READ_ONLY_MODE is on (changed: flags, cloudflare, postgres)"
    )
    assert cf_server.secrets[cf_server.worker] == {"READ_ONLY_MODE": "true"}
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        write_once(pg_protected)
    for path in ("/", "/controls/", "/backups/", "/recovery/", "/setup/"):
        page.goto(site + path)
        expect(page.locator("[data-switch-banner]")).to_contain_text("Read-only mode is ON")
    page.goto(site + "/status/")
    expect(page.locator("[data-switch=READ_ONLY_MODE]")).to_contain_text("read-only for now")

    page.goto(site + "/controls/")
    page.get_by_role("button", name="Turn read-only mode off").press("Enter")
    expect(page.locator("#control-read_only_off .control-answer")).to_contain_text("READ_ONLY_MODE is off")
    write_once(pg_protected)
    assert cf_server.secrets[cf_server.worker] == {"READ_ONLY_MODE": "false"}
    page.goto(site + "/")
    expect(page.locator("[data-switch-banner]")).to_have_count(0)


def test_a_double_click_runs_a_control_once(site, commander_page, cf_server):
    page = commander_page
    page.goto(site + "/controls/")
    card = page.locator("#control-maintenance_on")
    card.get_by_label("Yes: show the maintenance page").check()
    card.get_by_role("button", name="Run: Enable maintenance mode").dblclick()
    expect(card.locator(".control-answer")).to_contain_text("MAINTENANCE_MODE is on", timeout=15_000)
    page.wait_for_load_state("networkidle")
    assert ControlRun.objects.filter(name="maintenance_on").count() == 1
    assert [r["method"] for r in cf_server.requests] == ["PUT"]


def test_an_open_page_shows_the_banner_when_a_switch_goes_on_elsewhere_and_drops_it_when_off(
    site, browser_as, pg_protected, cf_server
):
    page = browser_as("viewer")
    page.goto(site + "/")  # the dashboard, left open
    page.evaluate("window.openSince = 'the first load'")  # gone if the page were loaded again
    expect(page.locator("[data-switch-banner]")).to_have_count(0)
    on = control_run(action="read_only_on", actor="alice", incident="INC-00042")  # elsewhere: the service
    assert on.status == "succeeded", on.output
    banner = page.locator("[data-switch-banner]")
    expect(banner).to_contain_text("Read-only mode is ON (cloudflare, flags, postgres)", timeout=20_000)
    expect(banner).to_contain_text("by alice for INC-00042")
    assert page.evaluate("window.openSince") == "the first load"
    off = control_run(action="read_only_off", actor="bob")
    assert off.status == "succeeded", off.output
    expect(page.locator("[data-switch-banner]")).to_have_count(0, timeout=20_000)
    assert page.evaluate("window.openSince") == "the first load"

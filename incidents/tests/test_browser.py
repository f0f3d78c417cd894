"""End to end in real headless Chromium against the ASGI server and a Celery worker.

One commander runs a whole incident from the browser while a viewer watches in a second browser
that never reloads; screenshots of the main pages go to ``test-artifacts/``.
"""

import os
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import connections

from incidents.lifecycle.models import Incident
from incidents.tests.sse import session_cookie
from pitchey_incidents.models import AuditEntry
from pitchey_incidents.testing import ARTIFACTS, CHROMIUM_ARGS, CHROMIUM_PATH, chromium_env, start_web

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),  # the server and the worker read committed rows
    # Skipped only where nobody asked for Chromium; CI sets CHROMIUM_PATH, so a missing one fails there.
    pytest.mark.skipif(
        not Path(CHROMIUM_PATH).exists() and not os.environ.get("CHROMIUM_PATH"),
        reason="needs Chromium at /usr/bin/chromium (apt-get install chromium; .ci/run does)",
    ),
]


@pytest.fixture
def site(tmp_path, transactional_db, users, worker, monkeypatch):
    users["commander"].password = make_password("correct horse battery", hasher="pbkdf2_sha256")
    users["commander"].save()
    worker()
    proc, base = start_web(tmp_path)
    # Playwright's sync API keeps an event loop in this thread; the ORM calls here are plain sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    yield base
    proc.stop()


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS, headless=True, env=chromium_env()
        )
        yield chromium
        chromium.close()
        # While Playwright's loop runs, the ORM keeps its connections per context: close the ones
        # this test opened, or the test database cannot be dropped at the end of the run.
        connections.close_all()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def logged_in_context(browser, base: str, user, **options):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, **options)
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session_cookie(user), "url": base}])
    return context


def test_commander_runs_an_incident_while_a_viewer_watches_live(site, browser, users):
    from playwright.sync_api import expect

    base = site
    expect.set_options(timeout=15_000)

    # The commander logs in through the form.
    commander = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    commander.goto(base + "/")
    expect(commander).to_have_url(re.compile(r"/accounts/login/\?next=/"))
    shot(commander, "login")
    commander.fill("#id_username", "commander")
    commander.fill("#id_password", "wrong")
    commander.click("button[type=submit]")
    expect(commander.get_by_role("alert")).to_contain_text("didn't match")
    commander.fill("#id_password", "correct horse battery")
    commander.click("button[type=submit]")
    expect(commander.get_by_role("heading", name="Incident dashboard")).to_be_visible()
    expect(commander.get_by_text("No open incidents. All quiet.")).to_be_visible()
    shot(commander, "dashboard-empty")

    # A viewer watches the dashboard in another browser; it must never reload.
    viewer = logged_in_context(browser, base, users["viewer"]).new_page()
    viewer.goto(base + "/")
    expect(viewer.locator("[data-live-indicator]")).to_have_text("Live")
    viewer.evaluate("window.__notReloaded = true")
    expect(viewer.get_by_role("link", name="Declare incident")).to_have_count(0)

    # Declare through the form: first with mistakes, then properly (keyboard only for the title).
    commander.get_by_role("link", name="Declare incident").click()
    commander.get_by_role("button", name="Declare incident").click()
    expect(commander.get_by_role("alert").first).to_contain_text("Please fix the 2 problems below.")
    shot(commander, "declare-errors")
    commander.check("input[name=severity][value=P1]")
    commander.focus("#id_title")
    commander.keyboard.type("Checkout API failing")
    commander.fill("#id_description", "5xx on /api/checkout since 03:02")
    commander.get_by_label("API Gateway").check()
    commander.get_by_role("button", name="Declare incident").click()
    incident = Incident.objects.get()
    expect(commander).to_have_url(base + f"/incidents/{incident.public_id}/")
    expect(commander.locator("[data-status]")).to_have_text("Triggered")

    # The viewer's dashboard shows it without reloading.
    row = viewer.locator(f"#row-{incident.public_id}")
    expect(row).to_contain_text("Checkout API failing")
    expect(row).to_contain_text("due in")
    assert viewer.evaluate("window.__notReloaded") is True
    shot(viewer, "dashboard-live")

    # The viewer follows the incident page, where there is nothing to press. (The link's target is
    # followed with goto: a click can land while a live update is swapping the row it sits in.)
    viewer.goto(base + row.get_by_role("link").get_attribute("href"))
    expect(viewer).to_have_url(base + f"/incidents/{incident.public_id}/")
    expect(viewer.locator("[data-live-indicator]")).to_have_text("Live")
    expect(viewer.locator("#incident-page button")).to_have_count(0)
    viewer.evaluate("window.__notReloaded = true")

    # Acknowledge: both pages show it.
    commander.get_by_role("button", name="Acknowledge").click()
    expect(commander.locator("[data-status]")).to_have_text("Acknowledged")
    expect(viewer.locator("[data-status]")).to_have_text("Acknowledged")
    expect(viewer.locator("[data-commander]")).to_have_text("commander")

    # Run a mitigation: the worker runs it; both pages see queued/running turn into succeeded.
    commander.get_by_text("Run a mitigation").click()
    commander.select_option("#mitigation-action", "enable_read_only")
    commander.get_by_role("button", name="Run mitigation").click()
    expect(commander.locator("[data-mitigation-status]")).to_have_count(1)
    expect(commander.locator("[data-mitigation-status]")).to_have_text("Succeeded", timeout=30_000)
    expect(viewer.locator("[data-mitigation-status]")).to_have_text("Succeeded", timeout=30_000)
    expect(viewer.locator("#incident-activity")).to_contain_text("READ_ONLY_MODE is on")
    expect(commander.locator("[data-status]")).to_have_text("Mitigating")
    shot(commander, "incident-commander")

    # An inline error, then resolve.
    commander.get_by_text("Resolve", exact=True).click()
    commander.fill("#resolve-resolution", "Rolled back deploy 4711; error rate normal")
    commander.get_by_role("button", name="Resolve incident").click()
    expect(commander.locator("[data-status]")).to_have_text("Resolved")
    expect(viewer.locator("[data-status]")).to_have_text("Resolved")
    expect(viewer.locator("#incident-activity")).to_contain_text("Resolved: Rolled back deploy 4711")
    assert viewer.evaluate("window.__notReloaded") is True
    shot(viewer, "incident-viewer")

    # The viewer's forged POST, with a valid CSRF token, is refused.
    level_before = Incident.objects.get().escalation_level
    token = viewer.locator("body").get_attribute("hx-headers").split('"X-CSRFToken": "')[1].split('"')[0]
    answer = viewer.request.post(
        base + f"/incidents/{incident.public_id}/escalate/", headers={"X-CSRFToken": token, "HX-Request": "true"}
    )
    assert answer.status == 403
    assert Incident.objects.get().escalation_level == level_before

    # An emergency control: refused until confirmed, then run and audited.
    commander.goto(base + "/controls/")
    control = commander.locator("#control-enable_maintenance")
    control.get_by_role("button").click()  # the browser itself insists on the confirmation box
    assert not AuditEntry.objects.exists()
    control.get_by_label("Yes: show the maintenance page to every user").check()
    control.get_by_role("button").click()
    expect(commander.locator("#controls-state .flash")).to_contain_text("MAINTENANCE_MODE is on")
    expect(commander.locator("[data-flag=MAINTENANCE_MODE]")).to_contain_text("ON")
    expect(commander.locator("#controls-state table")).to_contain_text("Enable maintenance mode")
    assert AuditEntry.objects.get().actor == "commander"
    shot(commander, "controls")

    commander.goto(base + "/")
    expect(commander.get_by_text("No open incidents. All quiet.")).to_be_visible()

    dark = logged_in_context(browser, base, users["viewer"], color_scheme="dark").new_page()
    dark.goto(base + f"/incidents/{incident.public_id}/")
    expect(dark.locator("[data-live-indicator]")).to_have_text("Live")
    shot(dark, "incident-dark")

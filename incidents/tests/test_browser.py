"""End to end in real headless Chromium against the ASGI server and a Celery worker.

One commander runs a whole incident from the browser while a viewer watches in a second browser
that never reloads; screenshots of the main pages go to ``test-artifacts/``.
"""

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

from incidents.lifecycle.models import Incident
from incidents.lifecycle.selectors import severity_policies
from incidents.tests.sse import session_cookie
from pitchey_incidents.models import AuditEntry
from pitchey_incidents.testing import ARTIFACTS, CHROMIUM_PATH
from pitchey_incidents.timefmt import format_duration
from recovery.models import ControlRun

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),  # the server and the worker read committed rows
    # Skipped only where nobody asked for Chromium; CI sets CHROMIUM_PATH, so a missing one fails there.
    pytest.mark.skipif(
        not Path(CHROMIUM_PATH).exists() and not os.environ.get("CHROMIUM_PATH"),
        reason="needs Chromium at /usr/bin/chromium (apt-get install chromium; .ci/run does)",
    ),
]


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def logged_in_context(browser, base: str, user, **options):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, **options)
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session_cookie(user), "url": base}])
    return context


def test_commander_runs_an_incident_while_a_viewer_watches_live(site, browser, users):
    base = site
    expect.set_options(timeout=15_000)

    commander = _log_in_through_the_form(browser, base)
    # A viewer watches the dashboard in another browser; it must never reload.
    viewer = logged_in_context(browser, base, users["viewer"]).new_page()
    viewer.goto(base + "/")
    expect(viewer.locator("[data-live-indicator]")).to_have_text("Live")
    viewer.evaluate("window.__notReloaded = true")
    expect(viewer.get_by_role("link", name="Declare incident")).to_have_count(0)

    incident = _declare_through_the_form(commander, base)
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

    _acknowledge_and_mitigate(commander, viewer)
    _resolve(commander, viewer)
    _forged_post_is_refused(viewer, base, incident)
    _run_an_emergency_control(commander, base)
    _quiet_dashboard_and_dark_mode(commander, browser, users, base, incident)


def _log_in_through_the_form(browser, base):
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
    return commander


def _declare_through_the_form(commander, base):
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
    return incident


def _acknowledge_and_mitigate(commander, viewer):
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


def _resolve(commander, viewer):
    # An inline error, then resolve.
    commander.get_by_text("Resolve", exact=True).click()
    commander.fill("#resolve-resolution", "Rolled back deploy 4711; error rate normal")
    commander.get_by_role("button", name="Resolve incident").click()
    expect(commander.locator("[data-status]")).to_have_text("Resolved")
    expect(viewer.locator("[data-status]")).to_have_text("Resolved")
    expect(viewer.locator("#incident-activity")).to_contain_text("Resolved: Rolled back deploy 4711")
    assert viewer.evaluate("window.__notReloaded") is True
    shot(viewer, "incident-viewer")


def _forged_post_is_refused(viewer, base, incident):
    # The viewer's forged POST, with a valid CSRF token, is refused.
    level_before = Incident.objects.get().escalation_level
    token = viewer.locator("body").get_attribute("hx-headers").split('"X-CSRFToken": "')[1].split('"')[0]
    answer = viewer.request.post(
        base + f"/incidents/{incident.public_id}/escalate/", headers={"X-CSRFToken": token, "HX-Request": "true"}
    )
    assert answer.status == 403
    assert Incident.objects.get().escalation_level == level_before


def _run_an_emergency_control(commander, base):
    # An emergency control: refused until confirmed, then run and audited.
    commander.goto(base + "/controls/")
    control = commander.locator("#control-maintenance_on")
    run = control.get_by_role("button", name="Run: Enable maintenance mode")
    run.click()
    expect(control.locator(".control-answer")).to_contain_text("Tick the confirmation box")
    assert not ControlRun.objects.filter(name="maintenance_on").exists()
    control.get_by_label("Yes: show the maintenance page").check()
    run.click()
    expect(control.locator(".control-answer .flash")).to_contain_text("MAINTENANCE_MODE is on")
    expect(commander.locator("[data-flag=MAINTENANCE_MODE]")).to_contain_text("ON")
    expect(commander.locator("#controls-audit table")).to_contain_text("maintenance_on")
    assert ControlRun.objects.get(name="maintenance_on").actor == "commander"
    assert AuditEntry.objects.filter(action="control.enable_maintenance", actor="commander").exists()
    shot(commander, "controls")


def _quiet_dashboard_and_dark_mode(commander, browser, users, base, incident):
    commander.goto(base + "/")
    expect(commander.get_by_text("No open incidents. All quiet.")).to_be_visible()

    dark = logged_in_context(browser, base, users["viewer"], color_scheme="dark").new_page()
    dark.goto(base + f"/incidents/{incident.public_id}/")
    expect(dark.locator("[data-live-indicator]")).to_have_text("Live")
    shot(dark, "incident-dark")


def test_countdowns_count_from_the_server_clock_when_the_browser_clock_is_wrong(web_server, browser, users, incident):
    """The browser believes it is March 2001; the page still counts from the server's time."""
    site = web_server  # pages only: no worker needed
    expect.set_options(timeout=15_000)
    # The web server is a separate process on the machine's clock, so "now" here is that clock too (not
    # the `clock` fixture, which reaches only this process): the incident was declared 2 h 40 min ago.
    age = timedelta(hours=2, minutes=40)
    Incident.objects.filter(pk=incident.pk).update(declared_at=timezone.now() - age)
    overdue = age - severity_policies()["P1"].response_time
    # Hours and minutes both non-zero, so the seconds the test takes never show (two largest units).
    assert overdue >= timedelta(hours=1) and overdue.seconds % 3600

    context = logged_in_context(browser, site, users["commander"])
    context.clock.set_fixed_time(datetime(2001, 3, 1, 12, tzinfo=UTC))
    page = context.new_page()
    assert page.evaluate("new Date().getUTCFullYear()") == 2001
    for path in ("/", f"/incidents/{incident.public_id}/"):
        page.goto(site + path)
        # goto returns after the load event, so the ticker has already rewritten the server's text once.
        due = page.locator("[data-due]")
        expect(due).to_have_text(f"⚠ OVERDUE by {format_duration(overdue)}")
        expect(due).to_have_class(re.compile(r"\boverdue\b"))
        expect(page.locator("[data-since]")).to_have_text(format_duration(age))
    context.close()

"""Headless Chromium against the real ASGI server: edit a post-mortem with htmx, add and finish an
action item, export Markdown, complete it (the incident closes). Screenshots go to test-artifacts/."""

from __future__ import annotations

import pytest

from incidents.lifecycle import services
from incidents.lifecycle.models import Incident, Status
from incidents.postmortems.models import PostMortem
from pitchey_incidents.testing import ARTIFACTS, CHROMIUM_ARGS, CHROMIUM_PATH, chromium_env

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def web(tmp_path):
    from pitchey_incidents.testing import start_web

    proc, base = start_web(tmp_path)
    yield base
    proc.stop()


@pytest.fixture
def browser(monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own ORM reads are sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS, env=chromium_env())
        yield chromium
        chromium.close()


def test_postmortem_edit_export_and_complete(web, browser, tmp_path, settings):
    from django.conf import global_settings
    from django.db import connections

    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS  # the web server checks with these
    try:
        flow(web, browser, tmp_path)
    finally:
        # While Playwright's loop runs, Django keys connections by context: close the one the flow
        # opened, or it outlives the test and blocks dropping the test database.
        connections.close_all()


def flow(web, browser, tmp_path):
    from django.contrib.auth.models import Group, User

    commander = User.objects.create_user("cmdr", password="pw-cmdr-123")
    commander.groups.add(Group.objects.get(name="commander"))
    incident = services.incident_declare(severity="P1", title="Checkout errors", services=["api"], actor=commander)
    services.incident_acknowledge(incident=incident, actor=commander)
    services.incident_resolve(incident=incident, resolution="Rolled back release 42", actor=commander)
    ARTIFACTS.mkdir(exist_ok=True)

    page = browser.new_page(viewport={"width": 1200, "height": 1600}, accept_downloads=True)
    page.set_default_timeout(20_000)
    page.goto(f"{web}/accounts/login/?next=/incidents/{incident.public_id}/postmortem/")
    page.fill("#id_username", "cmdr")
    page.fill("#id_password", "pw-cmdr-123")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    page.wait_for_url(f"**/incidents/{incident.public_id}/postmortem/")

    # Pre-filled from the record, with the four deadlines as countdowns.
    assert "Checkout errors" in page.input_value("#s-summary")
    assert "API Gateway" in page.input_value("#s-impact")
    assert page.locator(".deadline").count() == 4
    assert page.locator('[data-deadline="initial_report"] .countdown').inner_text().startswith("due in 23 h")
    assert page.locator("#record").get_by_text("Resolved: Rolled back release 42").count() == 1

    # Edit with htmx (no full reload): the initial-report deadline is met once a root cause is written.
    page.evaluate("window.__marker = 1")
    page.fill("#s-root_cause", "A release shipped a bad price cache key.")
    page.fill("#s-lessons", "Canary releases for checkout.")
    page.select_option("select[name=status]", "in_review")
    page.click("#pm-form button[type=submit]")
    page.wait_for_selector(".saved")
    assert page.evaluate("window.__marker") == 1
    assert page.inner_text("#pm-status") == "In review"
    assert page.locator('[data-deadline="initial_report"]').get_attribute("class").split()[-1] == "done"
    pm = PostMortem.objects.get(incident=incident)
    assert pm.root_cause == "A release shipped a bad price cache key." and pm.status == "in_review"

    # An action item, then marked done from its status select.
    page.fill("#item-form input[name=title]", "Add a canary stage")
    page.fill("#item-form input[name=owner]", "cmdr")
    page.click("#item-form button[type=submit]")
    row = page.locator("#action-items tr", has_text="Add a canary stage")
    row.wait_for()
    # htmx wires up swapped-in content before it settles; a change event before that goes unheard.
    page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")
    with page.expect_response(lambda r: "/action-items/" in r.url and r.request.method == "POST") as answer:
        row.locator("select[name=status]").select_option("done")
    assert answer.value.status == 200
    assert incident.action_items.get().status == "done"

    # Completing is refused while sections are empty, shown inline.
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#complete-btn")
    page.wait_for_selector("#complete-result .error")
    assert "contributing_factors" in page.inner_text("#complete-result")
    page.screenshot(path=str(ARTIFACTS / "postmortem-edit.png"), full_page=True)

    # Export Markdown.
    with page.expect_download() as info:
        page.click("#export-md")
    download = info.value
    assert download.suggested_filename == f"{incident.public_id}-postmortem.md"
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    text = target.read_text()
    assert "## Root cause\n\nA release shipped a bad price cache key." in text
    assert "| Add a canary stage | cmdr |" in text and "**resolved** (cmdr): Resolved: Rolled back release 42" in text

    # Fill the rest and complete: the page reloads, frozen, and the incident is closed.
    for name in ("contributing_factors", "what_went_well", "what_went_badly"):
        page.fill(f"#s-{name}", f"Written {name}.")
    page.click("#pm-form button[type=submit]")
    page.wait_for_selector(".saved")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#complete-btn")
    page.wait_for_selector("#pm-form", state="detached")
    assert page.inner_text("#pm-status") == "Complete"
    assert Incident.objects.get(pk=incident.pk).status == Status.CLOSED
    page.screenshot(path=str(ARTIFACTS / "postmortem-complete.png"), full_page=True)

    page.goto(f"{web}/reports/")
    assert page.locator("svg.chart").count() == 6
    page.screenshot(path=str(ARTIFACTS / "reports.png"), full_page=True)
    page.goto(f"{web}/reviews/weekly/")
    assert page.locator("text=Checkout errors").count() == 1
    page.emulate_media(media="print")
    assert page.locator("header.top").is_hidden()
    page.screenshot(path=str(ARTIFACTS / "review-weekly-print.png"), full_page=True)

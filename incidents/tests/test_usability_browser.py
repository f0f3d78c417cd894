"""What a newcomer meets in the browser: the mitigation form follows its Action dropdown, and the main
pages fit a 390 px phone. Screenshots of a failing page go to ``test-artifacts/``."""

from __future__ import annotations

import contextlib
import re

import pytest
from playwright.sync_api import expect

from incidents.lifecycle import services
from incidents.lifecycle.models import Mitigation
from incidents.tests.test_browser import logged_in_context, shot
from pitchey_incidents.testing import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Ways of writing time that are not the product's one way ("1 h 5 min", "2026-11-02 09:00 UTC").
ZONE = r"(?:\s?(?:UTC|GMT|[A-Z]{3,5}|[+-]\d{2}(?::?\d{2})?))"
STRAY_FORMATS = [
    re.compile(r"\b\d+h \d{1,2}m\b"),  # 1h 05m
    re.compile(r"\b\d+m \d{1,2}s\b"),  # 5m 00s
    re.compile(r"\b\d+d \d+h\b"),  # 1d 0h
    re.compile(r"\b\d+s\b"),  # 900s
    re.compile(r"\b(?:[6-9]\d|\d{3,}) s\b"),  # 3600 s
    re.compile(rf"\b\d{{4}}-\d{{2}}-\d{{2}}[ T]\d{{2}}:\d{{2}}(?::\d{{2}})?(?:\.\d+)?(?!\d|:|{ZONE})"),  # no zone
]


@contextlib.contextmanager
def screenshot_on_failure(page, name: str):
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):
            shot(page, f"FAILED-{name}")
        raise


def test_mitigation_form_follows_the_action_three_times_and_submits_only_the_chosen_one(site, browser, users):
    expect.set_options(timeout=15_000)
    incident = services.incident_declare(severity="P2", title="Slow queries", actor=users["commander"])
    page = logged_in_context(browser, site, users["commander"]).new_page()
    target_errors: list[str] = []
    page.on("console", lambda msg: target_errors.append(msg.text) if "targetError" in msg.text else None)
    page.goto(site + incident.get_absolute_url())
    page.evaluate("document.body.addEventListener('htmx:targetError', e => console.error('htmx:targetError'))")
    with screenshot_on_failure(page, "mitigation-form"):
        page.get_by_text("Run a mitigation").click()
        params = page.locator("#mitigation-params")

        page.select_option("#mitigation-action", "terminate_idle_connections")
        expect(params.locator("#param-idle_minutes")).to_have_count(1)
        expect(params.locator("input, select")).to_have_count(1)

        page.select_option("#mitigation-action", "scale_database")
        expect(params.locator("#param-min_cu")).to_have_count(1)
        expect(params.locator("#param-max_cu")).to_have_count(1)
        expect(params.locator("#param-idle_minutes")).to_have_count(0)

        page.select_option("#mitigation-action", "enable_read_only")
        expect(params).to_contain_text("This action takes no parameters.")
        expect(params.locator("input, select")).to_have_count(0)
        expect(page.locator("#mitigation-params")).to_have_count(1)  # the wrapper survived every swap
        expect(page.locator("text=/Scale|idle connections/i").locator("visible=true")).to_have_count(0)

        page.get_by_role("button", name="Run mitigation").click()
        expect(page.locator("[data-mitigation-status]")).to_have_count(1)
        wait_for(lambda: Mitigation.objects.filter(incident=incident).exists(), timeout=15, message="the mitigation")
        mitigation = Mitigation.objects.get(incident=incident)
        assert mitigation.action == "enable_read_only" and mitigation.params == {}
        assert target_errors == []
        assert re.search(r"enable.read.only", page.content(), re.I)


def test_main_pages_fit_a_390_px_phone(site, browser, users):
    """No horizontal scroll at 390 px on the dashboard, an incident, the controls, setup and the status
    page, with an open incident (long title, several services) so the tables have rows to stack."""
    incident = services.incident_declare(
        severity="P0",
        title="Primary database not responding to any query from the API workers in every region",
        services=["database", "api", "auth"],
        actor=users["commander"],
    )
    services.incident_declare(severity="P2", title="Slow search", actor=users["commander"])
    context = logged_in_context(browser, site, users["commander"])
    page = context.new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/", incident.get_absolute_url(), "/controls/", "/setup/", "/status/", "/backups/", "/recovery/"):
        page.goto(site + path)
        page.wait_for_load_state("networkidle")
        name = "phone" + (path.strip("/").replace("/", "-") or "-dashboard")
        with screenshot_on_failure(page, name):
            width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            assert width[0] <= width[1], f"{path} is {width[0]} px wide at {width[1]} px"
            # Buttons a thumb can hit: every visible button at least 40 px tall.
            small = page.evaluate(
                "[...document.querySelectorAll('main button, main .button')].filter(b => b.offsetParent)"
                ".map(b => [b.textContent.trim(), b.getBoundingClientRect().height]).filter(([, h]) => h < 40)"
            )
            assert small == [], f"{path}: buttons too small to tap: {small}"
            text = page.evaluate("document.body.innerText")
            strays = [m.group(0) for rx in STRAY_FORMATS for m in rx.finditer(text)]
            assert strays == [], f"{path}: times not in the one format: {strays}"
    context.close()

"""The dashboard's backup panel in real headless Chromium: a burst of backup events ends with the
panel showing the last state. (A throttle on the panel's trigger once dropped the event that came
inside its window, so a backup that finished right after it started stayed "in progress".)"""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from backups.models import Backup, Status
from incidents.tests.test_browser import logged_in_context
from pitchey_incidents import events

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def dashboard(web_server, transactional_db, users):
    return web_server


def test_the_backup_panel_shows_the_last_event_of_a_burst(dashboard, browser, users):
    expect.set_options(timeout=15_000)
    page = logged_in_context(browser, dashboard, users["viewer"]).new_page()
    page.goto(dashboard + "/")
    expect(page.locator("[data-live-indicator]")).to_have_text("Live")
    page.evaluate("window.__notReloaded = true")
    panel = page.locator("#backup-freshness")
    expect(panel).not_to_contain_text("in progress")

    backup = Backup.objects.create(kind="database", status=Status.RUNNING, started_at=timezone.now())
    events.emit("backup.running", backup.subject, {"backup": backup.id, "kind": backup.kind})
    expect(panel).to_contain_text("1 backup in progress")
    # At once, well inside the 2 s throttle the panel once had: the backup ends.
    Backup.objects.filter(id=backup.id).update(status=Status.FAILED, finished_at=timezone.now())
    events.emit("backup.failed", backup.subject, {"backup": backup.id, "kind": backup.kind})
    expect(panel).not_to_contain_text("in progress")
    assert page.evaluate("window.__notReloaded") is True

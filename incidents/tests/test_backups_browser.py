"""The backups and recovery pages in real headless Chromium, at a 390 px phone's width, against the ASGI
server and a real Celery worker: a restore started from a backup's Restore button (confirmation, dry
run, then the restore) is followed live, bar and steps, until it has succeeded, without a reload; the
restore-to-time form shows its errors by the field; a recovery run's progress and steps follow the
event stream. Screenshots of a failing page go to ``test-artifacts/``."""

from __future__ import annotations

import os
import shutil
from types import SimpleNamespace

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from backups import services as backup_services
from backups.models import Restore, Status
from incidents.tests.test_browser import logged_in_context
from incidents.tests.test_usability_browser import STRAY_FORMATS, screenshot_on_failure
from pitchey_incidents import events
from pitchey_incidents.testing import free_port, start_web
from recovery.models import RecoveryRun, RunStep

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
MIB = 1 << 20


@pytest.fixture(scope="module")
def backups_web(tmp_path_factory, django_db_setup):
    """The web server, once for the module, with this module's backup and media folders (emptied before
    each test) and point-in-time recovery switched on for the page (a source nobody serves)."""
    root = tmp_path_factory.mktemp("backups-site")
    env = {"BACKUP_DIR": str(root / "backups"), "MEDIA_DIR": str(root / "media"), "CONFIG_PATHS": ""}
    env |= {"R2_BUCKET": "", "R2_ARCHIVE_BUCKET": "", "PITR_AUTO": "0"}
    nowhere = f"postgresql://replicator@127.0.0.1:{free_port()}/postgres"
    proc, base = start_web(root, PITR_DATABASE_URL=nowhere, **env)
    yield SimpleNamespace(base=base, root=root, env=env)
    proc.stop()


@pytest.fixture
def backups_site(backups_web, transactional_db, users, worker, settings):
    """A media backup taken for real, in empty folders; a worker that restores at 1 MiB/s (so the
    progress can be watched)."""
    backups, media = backups_web.root / "backups", backups_web.root / "media"
    for folder in (backups, media):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
    settings.BACKUP_DIR, settings.MEDIA_DIR, settings.CONFIG_PATHS = backups, str(media), []
    settings.R2_BUCKET = settings.R2_ARCHIVE_BUCKET = ""
    settings.PITR_AUTO, settings.BACKUP_MAX_BYTES_PER_S = False, 0
    (media / "big.bin").write_bytes(os.urandom(6 * MIB))
    (media / "kept.txt").write_text("as backed up")
    backup = backup_services.backup_start(kind="media", actor="t", inline=True)
    backup.refresh_from_db()
    assert backup.status == Status.SUCCEEDED, backup.error
    (media / "kept.txt").write_text("changed since")
    (media / "new.txt").write_text("added since")
    worker(BACKUP_MAX_BYTES_PER_S=str(MIB), **backups_web.env)
    return backups_web.base, backup, media


def phone(browser, base: str, user):
    page = logged_in_context(browser, base, user).new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    return page


def fits(page, name: str) -> None:
    """No horizontal scroll at 390 px, buttons a thumb can hit, and times written the one way."""
    page.wait_for_load_state("load")  # stylesheets applied
    with screenshot_on_failure(page, f"phone-{name}"):
        width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], f"{name} is {width[0]} px wide at {width[1]} px"
        small = page.evaluate(
            "[...document.querySelectorAll('main button, main .button')].filter(b => b.offsetParent)"
            ".map(b => [b.textContent.trim(), b.getBoundingClientRect().height]).filter(([, h]) => h < 40)"
        )
        assert small == [], f"{name}: buttons too small to tap: {small}"
        text = page.evaluate("document.body.innerText")
        assert [m.group(0) for rx in STRAY_FORMATS for m in rx.finditer(text)] == [], name


def test_a_restore_from_its_button_is_followed_live_until_it_succeeded(backups_site, browser, users):
    base, backup, media = backups_site
    expect.set_options(timeout=20_000)
    page = phone(browser, base, users["commander"])
    page.goto(base + "/backups/")
    fits(page, "backups")
    with screenshot_on_failure(page, "restore-button"):
        page.locator(f'tr[data-backup="{backup.id}"]').get_by_role("link", name="Restore…").click()
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Restore backup {backup.id} (media)")
        expect(page.locator("ul.preview")).to_contain_text(f"media: replaces the folder {media}")
        fits(page, "restore-confirmation")

        page.get_by_role("button", name="Dry run: show what would change").click()
        expect(page.locator("#dry-run")).to_contain_text("0 files would be added, 1 replaced, 1 removed")
        assert (media / "kept.txt").read_text() == "changed since"  # a dry run changes nothing
        fits(page, "restore-dry-run")

        # The box must be ticked: the browser does not send the form without it.
        page.get_by_role("button", name=f"Restore backup {backup.id}").click()
        assert "/restore/" in page.url and not Restore.objects.filter(dry_run=False).exists()
        page.get_by_label(f"Replace what is listed above with the content of backup {backup.id}.").check()
        page.get_by_role("button", name=f"Restore backup {backup.id}").click()
        expect(page.locator(".messages")).to_contain_text("queued: follow it under In progress")
        row = Restore.objects.get(dry_run=False)
        page.evaluate("window.__notReloaded = true")

        live = page.locator(f'#in-progress [data-restore="{row.id}"]')
        expect(live.locator("progress")).to_have_count(1)
        expect(live.locator("ol.steps")).to_contain_text("extract media")
        expect(live).to_contain_text("%")
        fits(page, "restore-in-progress")

        done = page.locator(f'table.restores tr[data-restore="{row.id}"]')
        expect(done.locator('[data-status="succeeded"]')).to_have_count(1, timeout=60_000)
        expect(live).to_have_count(0)
        assert page.evaluate("window.__notReloaded") is True  # followed from the stream, not reloaded
        fits(page, "restore-done")
    assert (media / "kept.txt").read_text() == "as backed up" and not (media / "new.txt").exists()


def test_the_restore_to_time_form_shows_its_errors_by_the_field(backups_site, browser, users):
    base, _, _ = backups_site
    expect.set_options(timeout=15_000)
    page = phone(browser, base, users["commander"])
    page.goto(base + "/backups/")
    with screenshot_on_failure(page, "pitr-form"):
        form = page.locator("#pitr form")
        form.locator("#pitr-to-time").fill("2999-01-01T00:00:00")
        form.get_by_label("Start a new PostgreSQL server from the backups; nothing existing is changed.").check()
        form.get_by_role("button", name="Restore to this moment").click()
        expect(page.locator("#pitr-to-time-error")).to_contain_text("to_time: is in the future")
        expect(page.locator("#pitr-to-time")).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#pitr-to-time")).to_have_value("2999-01-01T00:00")  # what was typed stays
        fits(page, "pitr-form-error")

        form = page.locator("#pitr form")
        form.get_by_label("Instead: the latest WAL received").check()
        form.locator("#pitr-port").fill("80")
        form.get_by_label("Start a new PostgreSQL server from the backups; nothing existing is changed.").check()
        form.get_by_role("button", name="Restore to this moment").click()
        expect(page.locator("#pitr-port-error")).to_contain_text("port: must be between 1024 and 65535")

        form = page.locator("#pitr form")
        form.locator("#pitr-port").fill("")
        form.get_by_label("Start a new PostgreSQL server from the backups; nothing existing is changed.").check()
        form.get_by_role("button", name="Restore to this moment").click()
        expect(page.locator("#pitr-to-time-error")).to_contain_text("to_time: no base backup at all")
    assert not Restore.objects.exists()

    viewer = phone(browser, base, users["viewer"])
    viewer.goto(base + "/backups/")
    expect(viewer.locator("#pitr")).to_have_count(0)
    expect(viewer.get_by_role("link", name="Restore…")).to_have_count(0)
    fits(viewer, "backups-viewer")


def test_a_recovery_runs_bar_and_steps_follow_the_event_stream(backups_web, transactional_db, browser, users):
    base = backups_web.base  # the run's rows and events come from the test: no backup, no worker
    expect.set_options(timeout=15_000)
    run = RecoveryRun.objects.create(plan="media", status="running", requested_by="t", started_at=timezone.now())
    titles = ["Stop writes to media", "Restore media from backup", "Verify media checksums"]
    for position, title in enumerate(titles, 1):
        RunStep.objects.create(run=run, position=position, name=f"s{position}", title=title, action="noop")
    RunStep.objects.filter(run=run, position=1).update(status="running")
    page = phone(browser, base, users["viewer"])
    page.goto(base + "/recovery/")
    live = page.locator(f'#in-progress [data-run="{run.id}"]')
    with screenshot_on_failure(page, "recovery-progress"):
        expect(live).to_contain_text("0 of 3 steps")
        expect(live.locator("ol.steps li")).to_have_count(3)
        fits(page, "recovery-running")
        page.evaluate("window.__notReloaded = true")

        RunStep.objects.filter(run=run, position=1).update(status="succeeded")
        RunStep.objects.filter(run=run, position=2).update(status="running")
        events.emit("run.step", run.subject, {"run": run.id, "step": 2})
        expect(live).to_contain_text("1 of 3 steps")
        expect(live.locator("progress")).to_have_attribute("value", "33")
        expect(live.locator("ol.steps li").nth(0).locator('[data-status="succeeded"]')).to_have_count(1)
        expect(live.locator("ol.steps li").nth(1).locator('[data-status="running"]')).to_have_count(1)

        RunStep.objects.filter(run=run).update(status="succeeded")
        RecoveryRun.objects.filter(id=run.id).update(status="succeeded", finished_at=timezone.now())
        events.emit("run.finished", run.subject, {"run": run.id})
        expect(live).to_have_count(0)
        assert page.evaluate("window.__notReloaded") is True

    detail = phone(browser, base, users["viewer"])
    detail.goto(base + run.get_absolute_url())
    expect(detail.locator("#in-progress")).to_have_count(0)  # finished: no bar, the steps table stays
    fits(detail, "recovery-run-detail")

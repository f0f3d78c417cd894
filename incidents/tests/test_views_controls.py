"""The emergency controls page: commanders run controls after confirming; each run is audited."""

import pytest

from pitchey_incidents.models import AuditEntry, Event
from recovery.models import RuntimeFlag

HX = {"HTTP_HX_REQUEST": "true"}


def flag(name):
    row = RuntimeFlag.objects.filter(name=name).first()
    return bool(row and row.enabled)


@pytest.mark.parametrize("role", ["viewer", "responder"])
def test_non_commanders_see_the_state_but_no_controls(page, role):
    response = page(role).get("/controls/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "READ_ONLY_MODE" in body and "MAINTENANCE_MODE" in body
    assert "running them needs the commander role" in body
    assert 'name="confirm"' not in body


@pytest.mark.parametrize("role", ["viewer", "responder", "nobody"])
def test_forged_control_posts_are_refused(page, role):
    response = page(role).post("/controls/", {"action": "enable_read_only", "confirm": "yes"}, **HX)
    assert response.status_code == 403
    assert not flag("READ_ONLY_MODE") and not AuditEntry.objects.exists()


def test_commander_sees_every_control_with_a_confirmation(page):
    body = page("commander").get("/controls/").content.decode()
    for name in ("enable_read_only", "disable_read_only", "enable_maintenance", "disable_maintenance", "purge_cache"):
        assert f'value="{name}"' in body
    assert body.count('name="confirm"') == 5
    assert "No emergency control has been run yet." in body


def test_control_without_confirmation_does_nothing(page):
    response = page("commander").post("/controls/", {"action": "enable_read_only"}, **HX)
    assert response.status_code == 400
    assert "Tick the confirmation box" in response.content.decode()
    assert not flag("READ_ONLY_MODE") and not AuditEntry.objects.exists()


def test_enable_and_disable_read_only_are_audited(page):
    client = page("commander")
    response = client.post("/controls/", {"action": "enable_read_only", "confirm": "yes"}, **HX)
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert "READ_ONLY_MODE is on" in body and "READ_ONLY_MODE: <strong>ON</strong>" in body
    assert flag("READ_ONLY_MODE")
    client.post("/controls/", {"action": "disable_read_only", "confirm": "yes"}, **HX)
    assert not flag("READ_ONLY_MODE")
    audit = list(AuditEntry.objects.order_by("id").values_list("actor", "action", "dry_run"))
    assert audit == [
        ("commander", "control.enable_read_only", False),
        ("commander", "control.disable_read_only", False),
    ]
    assert Event.objects.filter(kind="control.succeeded").count() == 2
    assert "Enable read-only mode" in client.get("/controls/").content.decode()


def test_dry_run_changes_nothing_but_is_audited(page):
    response = page("commander").post(
        "/controls/", {"action": "enable_maintenance", "confirm": "yes", "dry_run": "on"}, **HX
    )
    assert "would turn MAINTENANCE_MODE on" in response.content.decode()
    assert not flag("MAINTENANCE_MODE")
    assert AuditEntry.objects.get().dry_run is True


def test_unknown_control_is_a_400(page):
    response = page("commander").post("/controls/", {"action": "rm_rf", "confirm": "yes"}, **HX)
    assert response.status_code == 400 and "unknown action" in response.content.decode()
    assert not AuditEntry.objects.exists()


def test_purge_cache_without_a_target_reports_failure(page, settings):
    settings.TARGET_REDIS_URL = ""
    settings.REDIS_URL = ""
    response = page("commander").post("/controls/", {"action": "purge_cache", "confirm": "yes"}, **HX)
    body = response.content.decode()
    assert response.status_code == 200 and "✗ purge_cache" in body and "TARGET_REDIS_URL" in body
    assert Event.objects.filter(kind="control.failed").exists()


@pytest.mark.parametrize("fragment", ["state", "flags", "audit"])
def test_fragments_render_alone(page, fragment):
    response = page("viewer").get(f"/controls/?fragment={fragment}", **HX)
    assert response.status_code == 200 and "<html" not in response.content.decode()


def test_live_fragments_follow_control_and_audit_events(page):
    body = page("viewer").get("/controls/").content.decode()
    assert 'hx-get="/controls/?fragment=flags" hx-trigger="sse:control"' in body
    assert 'hx-get="/controls/?fragment=audit" hx-trigger="sse:audit"' in body

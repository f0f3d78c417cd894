"""The emergency controls page: every runbook command with a preview of the exact request, a
confirmation, its output and its undo; role-checked on the server; one run per click; the banner."""

import pytest

from incidents.lifecycle import services
from recovery.models import ControlRun, RuntimeFlag
from recovery.tests.targets import CONTROL_NAMES as NAMES

HX = {"HTTP_HX_REQUEST": "true"}


def flag(name="READ_ONLY_MODE"):
    row = RuntimeFlag.objects.filter(name=name).first()
    return bool(row and row.enabled)


@pytest.fixture
def no_target(settings):
    settings.TARGET_DATABASE_URL = ""


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
    post = {"control": "read_only_on", "step": "run", "confirm": "yes"}
    response = page(role).post("/controls/", post, **HX)
    assert response.status_code == 403
    assert not flag() and not ControlRun.objects.exists()


def test_every_runbook_command_is_a_control_with_preview_and_confirmation(page):
    body = page("commander").get("/controls/").content.decode()
    for name in NAMES:
        assert f'id="control-{name}"' in body and f'name="control" value="{name}"' in body
    assert body.count('name="step" value="preview"') == len(NAMES)
    assert body.count('name="confirm" value="yes"') == len(NAMES)
    assert "as those features land" not in body and "Elsewhere" not in body
    assert "No emergency control or mitigation has been run yet." in body


def test_a_control_without_confirmation_does_nothing(page, no_target):
    response = page("commander").post("/controls/", {"control": "read_only_on", "step": "run"}, **HX)
    assert response.status_code == 400 and "Tick the confirmation box" in response.content.decode()
    assert not flag() and not ControlRun.objects.exists()


def test_preview_shows_the_exact_request_and_sends_nothing(page, cf_server, no_target):
    response = page("commander").post("/controls/", {"control": "read_only_on", "step": "preview"}, **HX)
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert f"PUT {cf_server.url}/client/v4/accounts/acct-1/workers/scripts/pitchey-api/secrets" in body
    assert "&quot;name&quot;: &quot;READ_ONLY_MODE&quot;, &quot;text&quot;: &quot;true&quot;" in body
    assert "(not sent)" in body and cf_server.requests == [] and not flag()
    assert ControlRun.objects.get().dry_run


def test_running_read_only_reports_each_back_end_and_the_banner_shows_everywhere(page, cf_server, no_target, users):
    client = page("commander")
    post = {"control": "read_only_on", "step": "run", "confirm": "yes", "idempotency_key": "k1", "incident": ""}
    response = client.post("/controls/", post, **HX)
    body = response.content.decode()
    assert response.status_code == 200 and response["HX-Trigger"] == "controls-changed"
    assert 'data-backend="cloudflare"' in body and "READ_ONLY_MODE set to true" in body
    assert "set TARGET_DATABASE_URL" in body  # the back end that is not configured says what to set
    assert cf_server.secrets[cf_server.worker] == {"READ_ONLY_MODE": "true"} and flag()
    incident = services.incident_declare(severity="P2", title="x", actor=users["commander"])
    for path in ("/", "/controls/", "/backups/", "/recovery/", "/setup/", incident.get_absolute_url()):
        page_body = page("viewer").get(path).content.decode()
        assert "data-switch-banner" in page_body and "Read-only mode is ON" in page_body, path
    assert "read-only for now" in page("viewer").get("/status/").content.decode()
    off = {"control": "read_only_off", "step": "run", "confirm": "yes", "idempotency_key": "k2"}
    client.post("/controls/", off, **HX)
    assert not flag() and "data-switch-banner" not in page("viewer").get("/").content.decode()
    assert "read-only for now" not in page("viewer").get("/status/").content.decode()


def test_a_double_click_runs_once(page, cf_server, no_target):
    client = page("commander")
    post = {"control": "maintenance_on", "step": "run", "confirm": "yes", "idempotency_key": "same"}
    first = client.post("/controls/", post, **HX)
    second = client.post("/controls/", post, **HX)
    assert first.status_code == second.status_code == 200
    assert "data-replayed" not in first.content.decode() and "data-replayed" in second.content.decode()
    assert ControlRun.objects.count() == 1
    assert [r["method"] for r in cf_server.requests] == ["PUT"]


def test_bad_input_is_a_400_naming_the_field(page, neon_server):
    client = page("commander")
    bad = client.post(
        "/controls/", {"control": "scale_database", "step": "run", "confirm": "yes", "p_size": "huge"}, **HX
    )
    assert bad.status_code == 400 and "params.size" in bad.content.decode()
    unknown = client.post("/controls/", {"control": "rm_rf", "step": "run", "confirm": "yes"}, **HX)
    assert unknown.status_code == 400 and "unknown control" in unknown.content.decode()
    purge = client.post(
        "/controls/", {"control": "purge_edge_cache", "step": "run", "confirm": "yes", "p_by": "tags"}, **HX
    )
    assert purge.status_code == 400 and "params.tags" in purge.content.decode()
    assert not ControlRun.objects.exists() and neon_server.requests == []


def test_flush_app_cache_without_a_target_says_what_to_set(page, settings):
    settings.TARGET_REDIS_URL = ""
    post = {"control": "flush_app_cache", "step": "run", "confirm": "yes"}
    body = page("commander").post("/controls/", post, **HX).content.decode()
    assert "✗ flush_app_cache (failed)" in body and "set TARGET_REDIS_URL" in body


def test_scale_back_is_offered_and_runs_from_the_page(page, neon_server):
    client = page("commander")
    post = {"control": "scale_database", "step": "run", "confirm": "yes", "p_size": "large"}
    client.post("/controls/", post, **HX)
    run = ControlRun.objects.get()
    page_body = client.get("/controls/").content.decode()
    assert f'data-undo="{run.id}"' in page_body and "Scale back to 1.0–2.0 CU" in page_body
    client.post("/controls/", {"control": "undo", "run": run.id, "step": "run", "confirm": "yes"})
    assert neon_server.compute == {"autoscaling_limit_min_cu": 1.0, "autoscaling_limit_max_cu": 2.0}
    assert f'data-undo="{run.id}"' not in client.get("/controls/").content.decode()


def test_mitigations_are_on_the_same_audit_trail(page, users, no_target, settings, django_capture_on_commit_callbacks):
    settings.CF_API_TOKEN = ""
    incident = services.incident_declare(severity="P1", title="API down", actor=users["commander"])
    with django_capture_on_commit_callbacks(execute=True):
        services.mitigation_start(incident=incident, action="enable_maintenance", actor=users["responder"], inline=True)
    run = ControlRun.objects.get()
    assert (run.source, run.incident, run.actor) == ("mitigation", incident.public_id, "responder")
    body = page("viewer").get("/controls/?fragment=audit", **HX).content.decode()
    assert "(mitigation)" in body and incident.public_id in body and "enable_maintenance" in body


@pytest.mark.parametrize("fragment", ["state", "audit", "backups"])
def test_fragments_render_alone(page, fragment):
    response = page("viewer").get(f"/controls/?fragment={fragment}", **HX)
    assert response.status_code == 200 and "<html" not in response.content.decode()


def test_live_fragments_follow_control_events(page):
    body = page("viewer").get("/controls/").content.decode()
    assert 'hx-get="/controls/?fragment=state" hx-trigger="sse:control, controls-changed from:body"' in body
    assert 'hx-get="/controls/?fragment=backups" hx-trigger="sse:backup' in body


def test_the_banner_alone_follows_the_switches_for_open_pages(page, cf_server, no_target):
    viewer = page("viewer")
    home = viewer.get("/").content.decode()
    assert 'hx-get="/controls/banner/?seen=' in home and 'hx-trigger="every 10s, controls-changed from:body"' in home
    seen = home.split("/controls/banner/?seen=", 1)[1].split('"', 1)[0]
    assert viewer.get(f"/controls/banner/?seen={seen}").status_code == 204  # nothing changed
    page("commander").post("/controls/", {"control": "read_only_on", "step": "run", "confirm": "yes"}, **HX)
    changed = viewer.get(f"/controls/banner/?seen={seen}", **HX)
    body = changed.content.decode()
    assert changed.status_code == 200 and "<html" not in body and body.lstrip().startswith('<div id="switch-banner"')
    assert "Read-only mode is ON</strong> (cloudflare, flags)" in body and cf_server.token not in body
    again = body.split("/controls/banner/?seen=", 1)[1].split('"', 1)[0]
    assert again != seen and viewer.get(f"/controls/banner/?seen={again}").status_code == 204


@pytest.mark.parametrize("role", [None, "nobody"])
def test_the_banner_alone_needs_a_role_and_never_answers_the_login_page(page, role):
    response = page(role).get("/controls/banner/", **HX)
    assert response.status_code == 403 and "data-switch-banner" not in response.content.decode()

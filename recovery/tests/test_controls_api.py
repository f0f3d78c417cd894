"""``/api/v1/controls/``: the same controls over the API, role-checked, with the exact requests."""

import pytest

from recovery.models import ControlRun, RuntimeFlag

from .targets import CONTROL_NAMES, write_once

pytestmark = pytest.mark.django_db


def test_lists_every_control_with_whether_it_is_configured(api, settings):
    settings.CF_API_TOKEN = ""
    answer = api("viewer").get("/api/v1/controls/").json()
    assert [c["name"] for c in answer] == list(CONTROL_NAMES)
    purge = next(c for c in answer if c["name"] == "purge_edge_cache")
    assert purge["configured"] is False and "CF_API_TOKEN" in purge["hint"]
    assert next(c for c in answer if c["name"] == "read_only_on")["state"] == "off"


@pytest.mark.parametrize("role", ["viewer", "responder"])
def test_running_needs_commander(api, role):
    response = api(role).post("/api/v1/controls/read_only_on/", {}, format="json")
    assert response.status_code == 403 and not ControlRun.objects.exists()


def test_anonymous_is_401(api):
    assert api(None).get("/api/v1/controls/").status_code == 401


def test_read_only_over_the_api_refuses_writes_and_reports_the_requests(api, pg_protected, cf_server):
    client = api("commander")
    answer = client.post("/api/v1/controls/read_only_on/", {"incident": "INC-00003"}, format="json")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["name"] == "read_only_on" and body["dry_run"] is False and body["status"] == "succeeded"
    assert {
        "method": "PUT",
        "url": f"{cf_server.url}/client/v4{cf_server.script[10:]}/secrets",
        "body": {"name": "READ_ONLY_MODE", "text": "true", "type": "secret_text"},
        "sent": True,
    } in body["requests"]
    assert body["undo"]["action"] == "disable_read_only"
    with pytest.raises(Exception, match="read-only transaction"):
        write_once(pg_protected)
    undo = client.post(f"/api/v1/controls/runs/{body['id']}/undo/", format="json")
    assert undo.status_code == 200 and undo.json()["status"] == "succeeded"
    write_once(pg_protected)
    runs = client.get("/api/v1/controls/runs/").json()
    assert [r["name"] for r in runs] == ["undo:read_only_on", "read_only_on"]
    assert runs[1]["actor"] == "commander" and runs[1]["incident"] == "INC-00003"


def test_idempotency_key_header_runs_once(api, cf_server, settings):
    settings.TARGET_DATABASE_URL = ""
    client = api("commander")
    first = client.post("/api/v1/controls/maintenance_on/", {}, format="json", HTTP_IDEMPOTENCY_KEY="abc")
    second = client.post("/api/v1/controls/maintenance_on/", {}, format="json", HTTP_IDEMPOTENCY_KEY="abc")
    assert first.json()["id"] == second.json()["id"]
    assert (first.json()["replayed"], second.json()["replayed"]) == (False, True)
    assert [r["method"] for r in cf_server.requests] == ["PUT"]


def test_dry_run_previews_and_secrets_are_masked(api, neon_server, settings):
    settings.NEON_API_KEY = neon_server.key
    answer = (
        api("commander")
        .post("/api/v1/controls/scale_database/", {"params": {"size": "large"}, "dry_run": True}, format="json")
        .json()
    )
    assert answer["dry_run"] and answer["requests"] == [
        {
            "method": "PATCH",
            "url": f"{neon_server.url}/api/v2/projects/proj-1/endpoints/ep-1",
            "body": {"endpoint": {"autoscaling_limit_min_cu": 2.0, "autoscaling_limit_max_cu": 4.0}},
            "sent": False,
        }
    ]
    assert neon_server.compute["autoscaling_limit_max_cu"] == 2.0 and "neon-key" not in str(answer)


def test_masks_a_password_in_a_database_url(api, settings):
    settings.TARGET_DATABASE_URL = "postgresql://app:hunter2@db.example:5432/pitchey"
    answer = api("commander").post("/api/v1/controls/emergency_backup/", {"dry_run": True}, format="json").json()
    assert "hunter2" not in str(answer) and "postgresql://app:****@db.example:5432/pitchey" in str(answer)


@pytest.mark.parametrize(
    ("url", "body", "code", "field"),
    [
        ("/api/v1/controls/nope/", {}, 404, None),
        ("/api/v1/controls/scale_database/", {"params": {"size": "huge"}}, 400, "params.size"),
        ("/api/v1/controls/scale_database/", {"params": "big"}, 400, "params"),
        ("/api/v1/controls/read_only_on/", {"dry_run": "maybe"}, 400, "dry_run"),
        ("/api/v1/controls/runs/999/undo/", {}, 404, None),
    ],
)
def test_bad_input_is_named_and_changes_nothing(api, url, body, code, field):
    response = api("commander").post(url, body, format="json")
    assert response.status_code == code, response.content
    if field:
        assert field in str(response.json())
    assert not ControlRun.objects.exists() and not RuntimeFlag.objects.filter(enabled=True).exists()

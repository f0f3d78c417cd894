"""Bad input → 400 naming the field and nothing changes; unknown id → 404; forbidden transition → 409."""

import pytest

from incidents.lifecycle import services
from incidents.lifecycle.models import Incident, TimelineEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def incident(users):
    return services.incident_declare(severity="P1", title="Auth down", services=["auth"], actor="test")


@pytest.mark.parametrize(
    "body,field",
    [
        ({"title": "x"}, "severity"),
        ({"severity": "P7", "title": "x"}, "severity"),
        ({"severity": "P1"}, "title"),
        ({"severity": "P1", "title": ""}, "title"),
        ({"severity": "P1", "title": "x" * 201}, "title"),
        ({"severity": "P1", "title": "x", "services": "api"}, "services"),
        ({"severity": "P1", "title": "x", "services": ["nope"]}, "services"),
        ({"severity": "P1", "title": "x", "services": [{"a": 1}]}, "services"),
        ({"severity": ["P1"], "title": "x"}, "severity"),
    ],
)
def test_declare_400_names_the_field(api, body, field):
    response = api("commander").post("/api/v1/incidents/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert Incident.objects.count() == 0


def test_malformed_json_is_400(api):
    response = api("commander").post("/api/v1/incidents/", "{not json", content_type="application/json")
    assert response.status_code == 400
    response = api("commander").post("/api/v1/incidents/", [1, 2], format="json")
    assert response.status_code == 400
    assert Incident.objects.count() == 0


@pytest.mark.parametrize(
    "action,body,field",
    [
        ("assign", {}, "commander"),
        ("assign", {"commander": "ghost"}, "commander"),
        ("severity", {"severity": "P0"}, "reason"),
        ("severity", {"severity": "PX", "reason": "r"}, "severity"),
        ("updates", {"public_status": "resolved", "message": "m"}, "public_status"),
        ("updates", {"public_status": "identified"}, "message"),
        ("resolve", {}, "resolution"),
        ("resolve", {"resolution": "  "}, "resolution"),
        ("mitigations", {"action": "format_disk"}, "action"),
        (
            "mitigations",
            {"action": "terminate_idle_connections", "params": {"idle_minutes": -1}},
            "params.idle_minutes",
        ),
        ("mitigations", {"action": "purge_cache", "params": "x"}, "params"),
    ],
)
def test_action_400_names_the_field_and_changes_nothing(api, incident, action, body, field):
    before = TimelineEntry.objects.count()
    response = api("admin").post(f"/api/v1/incidents/{incident.public_id}/{action}/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert TimelineEntry.objects.count() == before
    incident.refresh_from_db()
    assert incident.status == "triggered"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/incidents/INC-99999/",
        "/api/v1/incidents/INC-99999/timeline/",
        "/api/v1/incidents/garbage/",
        "/api/v1/incidents/INC-99999999999999999999999/",
        "/api/v1/mitigations/12345/",
    ],
)
def test_unknown_ids_are_404(api, path):
    assert api("viewer").get(path).status_code == 404


def test_unknown_id_action_is_404(api):
    assert (
        api("commander").post("/api/v1/incidents/INC-00042/resolve/", {"resolution": "x"}, format="json").status_code
        == 404
    )


def test_forbidden_transition_is_409_with_current_status(api, incident):
    client = api("commander")
    assert client.post(f"/api/v1/incidents/{incident.public_id}/acknowledge/").status_code == 200
    response = client.post(f"/api/v1/incidents/{incident.public_id}/acknowledge/")
    assert response.status_code == 409
    assert response.json()["status"] == "acknowledged"
    client.post(f"/api/v1/incidents/{incident.public_id}/resolve/", {"resolution": "ok"}, format="json")
    response = client.post(f"/api/v1/incidents/{incident.public_id}/escalate/", {}, format="json")
    assert response.status_code == 409 and response.json()["status"] == "resolved"


def test_list_filters_paginate_and_validate(api):
    for i in range(3):
        services.incident_declare(severity="P2", title=f"t{i}", services=["cache"], actor="t")
    services.incident_declare(severity="P0", title="db", services=["database"], actor="t")
    client = api("viewer")
    body = client.get("/api/v1/incidents/?page_size=2").json()
    assert body["count"] == 4 and len(body["results"]) == 2 and body["next"]
    assert body["results"][0]["title"] == "db"  # newest first
    assert [i["title"] for i in client.get("/api/v1/incidents/?severity=P0").json()["results"]] == ["db"]
    assert client.get("/api/v1/incidents/?service=cache").json()["count"] == 3
    assert client.get("/api/v1/incidents/?status=open").json()["count"] == 4
    assert client.get("/api/v1/incidents/?status=resolved").json()["count"] == 0
    bad = client.get("/api/v1/incidents/?status=burning")
    assert bad.status_code == 400 and "status" in bad.json()
    assert client.get("/api/v1/incidents/?severity=P9").status_code == 400
    assert client.get("/api/v1/incidents/?page=99").status_code == 404


def test_incident_shape_matches_the_contract(api, incident):
    body = api("viewer").get(f"/api/v1/incidents/{incident.public_id}/").json()
    assert set(body) >= {
        "id",
        "severity",
        "title",
        "description",
        "status",
        "public_status",
        "services",
        "commander",
        "source",
        "declared_at",
        "acknowledged_at",
        "resolved_at",
        "escalation_level",
        "resolution",
        "url",
    }
    assert body["url"].endswith(f"/incidents/{incident.public_id}/")


def test_mitigation_endpoint_shape(api, incident):
    created = api("responder").post(
        f"/api/v1/incidents/{incident.public_id}/mitigations/",
        {"action": "purge_cache", "dry_run": True},
        format="json",
    )
    assert created.status_code == 202
    body = api("viewer").get(f"/api/v1/mitigations/{created.json()['id']}/").json()
    assert set(body) >= {
        "id",
        "incident",
        "action",
        "params",
        "status",
        "requested_by",
        "started_at",
        "finished_at",
        "output",
    }
    assert body["incident"] == incident.public_id and body["status"] == "queued"
    assert body["requested_by"] == "responder"
    actions = {a["name"]: a for a in api("viewer").get("/api/v1/actions/").json()}
    assert {
        "terminate_idle_connections",
        "purge_cache",
        "enable_read_only",
        "disable_read_only",
        "enable_maintenance",
        "disable_maintenance",
        "restart_worker",
        "run_command",
    } <= set(actions)
    assert actions["terminate_idle_connections"]["params"][0]["name"] == "idle_minutes"


def test_detail_can_embed_its_timeline(api, incident):
    body = api("viewer").get(f"/api/v1/incidents/{incident.public_id}/?include=timeline").json()
    assert [e["kind"] for e in body["timeline"]] == ["declared"]
    assert "timeline" not in api("viewer").get(f"/api/v1/incidents/{incident.public_id}/").json()

"""The OpenAPI schema says what the API answers: arrays where it answers arrays, nullable where it
answers null, enums where the values are fixed, and the error answers on every operation. The full
check is .ci/schemathesis (every operation, every check, against the live server)."""

from __future__ import annotations

import pytest

from incidents.lifecycle import services
from recovery.models import RecoveryPlan, RuntimeFlag

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(api):
    response = api("viewer").get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def response_schema(schema: dict, path: str, method: str = "get", code: str = "200") -> dict:
    found = schema["paths"][path][method]["responses"][code]["content"]["application/json"]["schema"]
    while "$ref" in found:
        found = schema["components"]["schemas"][found["$ref"].rsplit("/", 1)[1]]
    return found


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/actions/",
        "/api/v1/backups/rpo/",
        "/api/v1/health/",
        "/api/v1/incidents/{id}/mitigations/",
        "/api/v1/incidents/{id}/timeline/",
    ],
)
def test_endpoints_that_answer_arrays_are_described_as_arrays(schema, api, incident, path):
    assert response_schema(schema, path)["type"] == "array"
    answer = api("viewer").get(path.replace("{id}", incident.public_id))
    assert answer.status_code == 200 and isinstance(answer.json(), list)


def test_flag_changed_at_is_nullable_and_is_null_for_a_flag_never_set(schema, api):
    flag = schema["components"]["schemas"]["Flag"]["properties"]["changed_at"]
    assert flag.get("nullable") is True
    RuntimeFlag.objects.all().delete()
    flags = api("viewer").get("/api/v1/flags/").json()
    assert flags and all(f["changed_at"] is None for f in flags)


def enum_of(schema: dict, body: str, field: str) -> list[str]:
    prop = schema["components"]["schemas"][body]["properties"][field]
    ref = prop.get("$ref") or prop["allOf"][0]["$ref"]
    return schema["components"]["schemas"][ref.rsplit("/", 1)[1]]["enum"]


def test_plan_scenario_and_action_names_are_enums(schema):
    plans = set(RecoveryPlan.objects.filter(is_drill=False).values_list("slug", flat=True))
    drills = set(RecoveryPlan.objects.filter(is_drill=True).values_list("slug", flat=True))
    assert set(enum_of(schema, "StartRunRequest", "plan")) == plans and "database" in plans
    assert set(enum_of(schema, "StartDrillRequest", "scenario")) == drills and "backup-restore" in drills
    assert "enable_maintenance" in enum_of(schema, "MitigationRequestRequest", "action")
    assert "enable_maintenance" in enum_of(schema, "Action", "name")


def test_every_operation_declares_its_error_answers(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            declared = set(operation["responses"])
            assert {"400", "401", "403", "404"} <= declared, (method, path)
            if method != "get":
                assert "409" in declared, (method, path)
            if "requestBody" in operation:
                assert {"413", "415"} <= declared, (method, path)


@pytest.mark.parametrize("size", ["null", "0", "-1", "1.5", "", "9" * 5000])
def test_page_size_that_is_not_a_whole_number_from_one_is_400(api, users, size):
    services.incident_declare(severity="P3", title="One", actor=users["commander"])
    response = api("viewer").get(f"/api/v1/incidents/?page_size={size}")
    assert response.status_code == 400, response.content
    assert response.json() == {"page_size": ["must be a whole number from 1"]}


def test_page_size_in_range_is_served_and_capped(api, users):
    for title in ("One", "Two"):
        services.incident_declare(severity="P3", title=title, actor=users["commander"])
    assert len(api("viewer").get("/api/v1/incidents/?page_size=1").json()["results"]) == 1
    assert len(api("viewer").get("/api/v1/incidents/?page_size=100000").json()["results"]) == 2


@pytest.mark.parametrize("body", [{"dry_run": "true"}, {"dry_run": 1}, {"action": 5}])
def test_a_value_of_the_wrong_json_type_is_400_naming_it(api, incident, body):
    url = f"/api/v1/incidents/{incident.public_id}/mitigations/"
    response = api("responder").post(url, {"action": "enable_maintenance", **body}, format="json")
    assert response.status_code == 400 and set(response.json()) == set(body), response.content


def test_unknown_api_url_is_a_json_404_and_a_form_body_is_415(api):
    missing = api("viewer").get("/api/v1/action-items/not-a-number/")
    assert missing.status_code == 404 and missing.json() == {"detail": "Not found."}
    form = api("commander").post(
        "/api/v1/incidents/", "severity=P3&title=x", content_type="application/x-www-form-urlencoded"
    )
    assert form.status_code == 415 and "detail" in form.json()

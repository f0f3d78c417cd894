"""Bounded input: JSON nesting (400 naming the limit), body size (JSON 413 naming the limit), date
ranges (400 naming the field), and control characters cleaned at the door (API, page forms, alerts)."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest

from incidents.detection import alerting
from incidents.lifecycle import services
from incidents.lifecycle.models import Incident, Mitigation, TimelineEntry

pytestmark = pytest.mark.django_db


def nested(depth: int, leaf="x") -> str:
    return "[" * depth + f'"{leaf}"' + "]" * depth


def test_services_nested_5000_deep_is_400_naming_the_limit(api, settings):
    body = '{"severity": "P2", "title": "Deep", "services": ' + nested(5000) + "}"
    response = api("commander").post("/api/v1/incidents/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json() == {"body": [f"nests deeper than the limit of {settings.API_MAX_JSON_DEPTH} levels"]}
    assert Incident.objects.count() == 0


def test_mitigation_params_nested_50000_deep_is_400(api, incident):
    params = '{"a": ' * 50000 + "1" + "}" * 50000
    body = '{"action": "enable_maintenance", "params": ' + params + "}"
    url = f"/api/v1/incidents/{incident.public_id}/mitigations/"
    response = api("responder").post(url, body, content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    assert "nests deeper than the limit of 32 levels" in response.json()["body"][0]
    assert Mitigation.objects.count() == 0


def test_depth_limit_is_exact(api, settings):
    settings.API_MAX_JSON_DEPTH = 4
    ok = '{"severity": "P2", "title": "Shallow", "services": ["cache"], "x": [[1]]}'  # object, list, list
    assert api("commander").post("/api/v1/incidents/", ok, content_type="application/json").status_code == 201
    deep = '{"severity": "P2", "title": "Deep", "x": [[[[1]]]]}'  # five levels
    assert api("commander").post("/api/v1/incidents/", deep, content_type="application/json").status_code == 400


def test_ten_megabyte_body_is_json_413_naming_the_limit(api, settings):
    body = '{"severity": "P2", "title": "Big", "description": "' + "x" * (10 * 1024 * 1024) + '"}'
    response = api("commander").post("/api/v1/incidents/", body, content_type="application/json")
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": f"body larger than {settings.API_MAX_BODY_BYTES} bytes"}
    assert Incident.objects.count() == 0


def test_body_over_the_limit_without_a_declared_size_is_413(api, settings):
    """The parser stops at the limit even when Content-Length understates the body."""
    settings.API_MAX_BODY_BYTES = 2048
    body = ('{"severity": "P2", "title": "Big", "description": "' + "x" * 5000 + '"}').encode()
    client = api("commander")
    request = client.post("/api/v1/incidents/", body, content_type="application/json", CONTENT_LENGTH="1")
    assert request.status_code in (400, 413)  # one byte read: never a 500, never stored
    settings.API_MAX_BODY_BYTES = 4096
    response = client.post("/api/v1/incidents/", body, content_type="application/json")
    assert response.status_code == 413 and response.json() == {"detail": "body larger than 4096 bytes"}
    assert Incident.objects.count() == 0


@pytest.mark.parametrize(
    "query,field",
    [
        ("from=0001-01-01&to=9999-12-31", "to"),
        ("from=0001-01-01&to=2026-01-01", "from"),
        ("from=2026-01-01&to=9999-12-31", "to"),
        ("to=0001-01-02", "to"),
        ("from=1969-12-31T23:59:59Z", "from"),
    ],
)
def test_metrics_date_range_out_of_bounds_is_400(api, query, field):
    response = api("viewer").get(f"/api/v1/metrics/summary/?{query}")
    assert response.status_code == 400, response.content
    assert response.json()[field] == ["must be between 1970-01-01 and 3000-01-01"]


def test_metrics_date_range_at_the_bounds_is_answered(api):
    response = api("viewer").get("/api/v1/metrics/summary/?from=1970-01-01&to=2999-12-31")
    assert response.status_code == 200, response.content


def test_api_text_loses_control_characters(api):
    body = {"severity": "P2", "title": "bell\u0007 here\x1f", "description": "a\r\nb\rc\td\x1b[31m", "services": []}
    response = api("commander").post("/api/v1/incidents/", body, format="json")
    assert response.status_code == 201, response.content
    incident = Incident.objects.get()
    assert incident.title == "bell here"
    assert incident.description == "a\nb\nc\td[31m"


def test_page_form_text_loses_control_characters(page):
    response = page("commander").post(
        "/incidents/new/", {"severity": "P3", "title": "form\u0007 bell", "description": "x\x1by"}
    )
    assert response.status_code in (200, 302), response.content[:300]
    incident = Incident.objects.get()
    assert (incident.title, incident.description) == ("form bell", "xy")


def test_alert_summary_with_a_bell_keeps_the_feed_alive(client, settings):
    _source, secret = alerting.alertsource_create(name="gen", kind="generic", actor="test")
    response = client.post(
        "/api/v1/alerts/generic/",
        {"dedup_key": "k\u0001", "status": "firing", "severity": "P1", "summary": "bell\u0007 here"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    assert response.status_code == 202, response.content
    incident = Incident.objects.get()
    assert response.json()["incidents"] == [incident.public_id]
    assert "\u0007" not in incident.title and "bell here" in incident.title
    feed = client.get("/status/feed.atom")
    assert feed.status_code == 200
    ElementTree.fromstring(feed.content)


def test_feed_survives_control_characters_written_straight_into_the_database(client, users):
    incident = services.incident_declare(severity="P1", title="Clean", actor=users["commander"])
    services.incident_post_update(
        incident=incident, public_status="identified", message="Found it", actor=users["commander"]
    )
    Incident.objects.filter(pk=incident.pk).update(title="bell\u0007\x1b here")
    TimelineEntry.objects.filter(kind="status_update").update(message="esc\x1b[0m\x0c")
    feed = client.get("/status/feed.atom")
    assert feed.status_code == 200
    ns = {"a": "http://www.w3.org/2005/Atom"}
    root = ElementTree.fromstring(feed.content)
    titles = {e.findtext("a:title", namespaces=ns) for e in root.findall("a:entry", ns)}
    assert "Investigating: bell here" in titles
    assert "esc[0m" in feed.content.decode()
    assert client.get("/status/").status_code == 200

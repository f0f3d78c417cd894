import pytest

pytestmark = pytest.mark.django_db


def test_declare_and_read_back(api):
    r = api("commander").post(
        "/api/v1/incidents/", {"severity": "P1", "title": "High error rate", "services": ["api"]}, format="json"
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["id"].startswith("INC-") and body["status"] == "triggered" and body["services"] == ["api"]
    r = api("viewer").get(f"/api/v1/incidents/{body['id']}/timeline/")
    assert r.status_code == 200 and r.json()[0]["kind"] == "declared" and r.json()[0]["actor"] == "commander"

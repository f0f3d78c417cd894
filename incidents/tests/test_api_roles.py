"""Every endpoint × every role: 401 without credentials, 403 below the role it needs, success at or above."""

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from incidents.lifecycle import services
from pitchey_incidents.queues import QUEUES
from pitchey_incidents.roles import ROLES
from pitchey_incidents.workers import heartbeat_write

pytestmark = pytest.mark.django_db

ROLE_ORDER = [None, "nobody", *ROLES]


@pytest.fixture
def incident(users):
    return services.incident_declare(severity="P2", title="Cache misses", services=["cache"], actor="test")


def endpoints(inc_id):
    """(method, path, body, role needed, success status)"""
    base = f"/api/v1/incidents/{inc_id}"
    return [
        ("get", "/api/v1/incidents/", None, "viewer", 200),
        ("post", "/api/v1/incidents/", {"severity": "P3", "title": "Typo"}, "commander", 201),
        ("get", f"{base}/", None, "viewer", 200),
        ("get", f"{base}/timeline/", None, "viewer", 200),
        ("get", f"{base}/mitigations/", None, "viewer", 200),
        ("post", f"{base}/acknowledge/", None, "responder", 200),
        ("post", f"{base}/assign/", {"commander": "responder"}, "commander", 200),
        ("post", f"{base}/severity/", {"severity": "P1", "reason": "spreading"}, "commander", 200),
        ("post", f"{base}/updates/", {"public_status": "identified", "message": "Found it"}, "responder", 200),
        ("post", f"{base}/mitigations/", {"action": "enable_maintenance", "dry_run": True}, "responder", 202),
        ("post", f"{base}/escalate/", {}, "commander", 200),
        ("post", f"{base}/resolve/", {"resolution": "Fixed"}, "commander", 200),
        ("get", "/api/v1/mitigations/", None, "viewer", 200),
        ("get", "/api/v1/actions/", None, "viewer", 200),
        ("get", "/api/v1/services/", None, "viewer", 200),
        ("get", "/api/v1/flags/", None, "viewer", 200),
        ("get", "/api/schema/", None, "viewer", 200),
    ]


@pytest.mark.parametrize("index", range(17))
@pytest.mark.parametrize("role", ROLE_ORDER)
def test_endpoint_role_matrix(api, incident, index, role):
    method, path, body, needed, success = endpoints(incident.public_id)[index]
    response = getattr(api(role), method)(path, body, format="json")
    if role is None:
        expected = 401
    elif role == "nobody" or ROLES.index(role) < ROLES.index(needed):
        expected = 403
    else:
        expected = success
    assert response.status_code == expected, (method, path, role, response.content[:300])
    if expected == 401:
        assert response["WWW-Authenticate"].startswith("Token")


def test_bearer_keyword_is_accepted(api, users):

    token, _ = Token.objects.get_or_create(user=users["viewer"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.key}")
    assert client.get("/api/v1/incidents/").status_code == 200
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert client.get("/api/v1/incidents/").status_code == 401


def test_health_endpoints_need_no_auth_and_show_no_secrets(client, settings):
    assert client.get("/healthz").json() == {"status": "ok"}
    heartbeat_write(hostname="w1@host", queues=list(QUEUES), pid=1, started_at=timezone.now())
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.content
    checks = ready.json()["checks"]
    assert (checks["database"], checks["broker"], set(checks["workers"])) == ("ok", "ok", set(QUEUES))
    assert settings.SECRET_KEY not in ready.content.decode()


def test_pages_need_login(client):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert client.get("/accounts/login/").status_code == 200


def test_session_auth_works_for_the_api_with_csrf(users):

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(users["commander"])
    assert browser.get("/api/v1/incidents/").status_code == 200
    refused = browser.post("/api/v1/incidents/", {"severity": "P3", "title": "x"}, content_type="application/json")
    assert refused.status_code == 403  # no CSRF token

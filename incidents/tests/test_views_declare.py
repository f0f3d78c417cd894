"""Declaring an incident through the form: roles, validation errors, and the result."""

import pytest

from incidents.lifecycle.models import Incident


@pytest.mark.parametrize("role", ["viewer", "responder"])
def test_only_commanders_may_declare(page, role):
    client = page(role)
    assert client.get("/incidents/new/").status_code == 403
    assert client.post("/incidents/new/", {"severity": "P1", "title": "x"}).status_code == 403
    assert not Incident.objects.exists()


def test_form_lists_severities_with_policy_and_services(page):
    body = page("commander").get("/incidents/new/").content.decode()
    assert "P0 Critical" in body and "acknowledge within" in body
    assert 'value="database"' in body and "API Gateway" in body


def test_declare_creates_the_incident_and_opens_its_page(page, users):
    response = page("commander").post(
        "/incidents/new/",
        {"severity": "P0", "title": "Database Outage", "description": "Not responding", "services": ["database"]},
    )
    incident = Incident.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/incidents/{incident.public_id}/"
    assert incident.severity == "P0" and incident.declared_by == "commander"
    assert list(incident.services.values_list("slug", flat=True)) == ["database"]
    assert incident.timeline.get().kind == "declared"


@pytest.mark.parametrize(
    "data, message",
    [
        ({"title": "No severity"}, "This field is required."),
        ({"severity": "P9", "title": "Bad severity"}, "Select a valid choice. P9 is not one of the available choices."),
        ({"severity": "P1", "title": "   "}, "This field is required."),
        ({"severity": "P1", "title": "x" * 201}, "Ensure this value has at most 200 characters"),
        ({"severity": "P1", "title": "Bad service", "services": ["nope"]}, "Select a valid choice. nope is not one"),
    ],
)
def test_invalid_input_shows_errors_and_changes_nothing(page, data, message):
    response = page("commander").post("/incidents/new/", data)
    body = response.content.decode()
    assert response.status_code == 400
    assert message in body and "Please fix the 1 problem below." in body
    assert not Incident.objects.exists()

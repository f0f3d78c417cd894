"""The incident page: what each role sees, every action through the form, errors inline, 403s."""

import pytest

from incidents.lifecycle import services
from incidents.lifecycle.models import Incident, Mitigation

HX = {"HTTP_HX_REQUEST": "true"}


def url(incident, action=""):
    return f"/incidents/{incident.public_id}/" + (f"{action}/" if action else "")


def test_unknown_incident_is_404(page):
    assert page("viewer").get("/incidents/INC-99999/").status_code == 404
    assert page("viewer").get("/incidents/garbage/").status_code == 404


def test_header_shows_the_facts(page, incident):
    body = page("viewer").get(url(incident)).content.decode()
    assert incident.public_id in body and "High error rate on the API" in body
    for text in ("Triggered", "Investigating", "unassigned", "API Gateway", "due in", "Open for", "P1 "):
        assert text in body, text
    assert f'hx-trigger="sse:{incident.public_id}"' in body


def test_viewer_sees_no_action_buttons(page, incident):
    body = page("viewer").get(url(incident)).content.decode()
    assert "<form" in body  # the logout form only
    assert body.count("<form") == 1
    for label in ("Acknowledge", "Assign to me", "Escalate", "Run mitigation", "Resolve incident", "Post update"):
        assert label not in body


def test_responder_sees_respond_actions_only(page, incident):
    body = page("responder").get(url(incident)).content.decode()
    for label in ("Acknowledge", "Post update", "Run mitigation"):
        assert label in body
    for label in ("Assign to me", "Escalate", "Change severity", "Resolve incident"):
        assert label not in body


def test_commander_sees_every_action(page, incident):
    body = page("commander").get(url(incident)).content.decode()
    for label in ("Acknowledge", "Assign to me", "Escalate", "Change severity", "Post update", "Run mitigation"):
        assert label in body
    assert "Resolve incident" in body and "Resolution: what fixed it?" in body


@pytest.mark.parametrize(
    "role, action, data",
    [
        ("viewer", "acknowledge", {}),
        ("viewer", "mitigate", {"action": "enable_read_only"}),
        ("viewer", "update", {"public_status": "identified", "message": "x"}),
        ("responder", "resolve", {"resolution": "forged"}),
        ("responder", "severity", {"severity": "P0", "reason": "forged"}),
        ("responder", "escalate", {}),
        ("responder", "assign", {"commander": "responder"}),
        ("nobody", "acknowledge", {}),
    ],
)
def test_forged_posts_are_refused(page, incident, role, action, data):
    response = page(role).post(url(incident, action), data, **HX)
    assert response.status_code == 403
    fresh = Incident.objects.get(pk=incident.pk)
    assert fresh.status == "triggered" and fresh.severity == "P1" and fresh.escalation_level == 0
    assert not Mitigation.objects.exists() and fresh.timeline.count() == 1


def test_anonymous_post_goes_to_login(page, incident):
    response = page(None).post(url(incident, "acknowledge"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert Incident.objects.get(pk=incident.pk).status == "triggered"


def test_post_without_csrf_token_is_refused(page, users, incident):
    client = page("responder", enforce_csrf_checks=True)
    assert client.post(url(incident, "acknowledge"), **HX).status_code == 403
    assert Incident.objects.get(pk=incident.pk).status == "triggered"


def test_htmx_post_with_the_pages_csrf_header_works(page, incident):
    client = page("responder", enforce_csrf_checks=True)
    body = client.get(url(incident)).content.decode()
    token = body.split('hx-headers=\'{"X-CSRFToken": "', 1)[1].split('"', 1)[0]
    response = client.post(url(incident, "acknowledge"), HTTP_X_CSRFTOKEN=token, **HX)
    assert response.status_code == 200
    assert Incident.objects.get(pk=incident.pk).status == "acknowledged"


def test_acknowledge_with_htmx_answers_the_page_fragment(page, users, incident):
    response = page("responder").post(url(incident, "acknowledge"), **HX)
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert 'id="incident-page"' in body and "✓ Acknowledged" in body
    fresh = Incident.objects.get(pk=incident.pk)
    assert fresh.status == "acknowledged" and fresh.commander == users["responder"]


def test_plain_form_post_redirects_back(page, incident):
    response = page("responder").post(url(incident, "acknowledge"))
    assert response.status_code == 302 and response["Location"] == url(incident)


def test_acknowledging_twice_shows_the_conflict_inline(page, incident):
    client = page("responder")
    client.post(url(incident, "acknowledge"), **HX)
    response = client.post(url(incident, "acknowledge"), **HX)
    assert response.status_code == 409
    assert "cannot move from acknowledged to acknowledged" in response.content.decode()


def test_commander_lifecycle_through_the_forms(page, users, incident):
    client = page("commander")
    assert client.post(url(incident, "assign"), **HX).status_code == 200
    assert Incident.objects.get(pk=incident.pk).commander == users["commander"]
    assert client.post(url(incident, "assign"), {"commander": "responder"}, **HX).status_code == 200
    assert Incident.objects.get(pk=incident.pk).commander == users["responder"]
    assert client.post(url(incident, "severity"), {"severity": "P0", "reason": "all users"}, **HX).status_code == 200
    response = client.post(url(incident, "update"), {"public_status": "identified", "message": "Found it"}, **HX)
    assert response.status_code == 200
    assert client.post(url(incident, "escalate"), {"reason": "need DBA"}, **HX).status_code == 200
    assert client.post(url(incident, "monitor"), **HX).status_code == 200
    response = client.post(url(incident, "resolve"), {"resolution": "Rolled back"}, **HX)
    assert response.status_code == 200
    fresh = Incident.objects.get(pk=incident.pk)
    assert (fresh.status, fresh.severity, fresh.public_status) == ("resolved", "P0", "resolved")
    assert fresh.escalation_level == 1
    assert fresh.resolution == "Rolled back"
    kinds = list(fresh.timeline.values_list("kind", flat=True))
    assert kinds == [
        "declared",
        "assigned",
        "assigned",
        "severity_changed",
        "status_update",
        "escalated",
        "paged",
        "monitoring",
        "resolved",
        "postmortem_opened",
    ]
    body = client.get(url(incident)).content.decode()
    assert "Resolution:</strong> Rolled back" in body and "Run mitigation" not in body


@pytest.mark.parametrize(
    "action, data, status, message",
    [
        ("resolve", {"resolution": "  "}, 400, "resolution: is required"),
        ("severity", {"severity": "P1", "reason": "same"}, 400, "severity: already P1"),
        ("severity", {"severity": "P7", "reason": "bad"}, 400, "severity: must be one of P0, P1, P2, P3"),
        ("update", {"public_status": "resolved", "message": "x"}, 400, "public_status: must be investigating"),
        ("assign", {"commander": "viewer"}, 400, "viewer is not a responder or commander"),
        ("mitigate", {"action": "nope"}, 400, "action: unknown action"),
        (
            "mitigate",
            {"action": "terminate_idle_connections", "params.idle_minutes": "-5"},
            400,
            "params.idle_minutes: idle_minutes must be at least 0",
        ),
    ],
)
def test_domain_errors_are_shown_inline(page, incident, action, data, status, message):
    response = page("commander").post(url(incident, action), data, **HX)
    assert response.status_code == status
    body = response.content.decode()
    assert message in body and 'role="alert"' in body
    assert Incident.objects.get(pk=incident.pk).timeline.count() == 1
    assert not Mitigation.objects.exists()


def test_errors_without_htmx_render_the_whole_page(page, incident):
    response = page("commander").post(url(incident, "resolve"), {"resolution": ""})
    assert response.status_code == 400 and "<html" in response.content.decode()


def test_mitigation_form_queues_the_action_with_its_params(page, incident):
    response = page("responder").post(
        url(incident, "mitigate"),
        {"action": "terminate_idle_connections", "params.idle_minutes": "7", "dry_run": "on"},
        **HX,
    )
    assert response.status_code == 200
    mitigation = Mitigation.objects.get()
    assert (mitigation.action, mitigation.params, mitigation.dry_run) == (
        "terminate_idle_connections",
        {"idle_minutes": 7},
        True,
    )
    assert mitigation.requested_by == "responder" and mitigation.status == "queued"
    assert "terminate_idle_connections" in response.content.decode()


def test_mitigation_params_fragment_renders_the_actions_parameters(page, incident):
    body = (
        page("responder")
        .get(url(incident) + "?fragment=mitigation_params&action=terminate_idle_connections", **HX)
        .content.decode()
    )
    assert 'name="params.idle_minutes"' in body and 'type="number"' in body and 'value="10"' in body
    body = page("responder").get(url(incident) + "?fragment=mitigation_params&action=branch_from_pitr").content.decode()
    assert 'name="params.timestamp"' in body and 'name="params.lsn"' in body
    body = page("responder").get(url(incident) + "?fragment=mitigation_params&action=purge_cache").content.decode()
    assert "This action takes no parameters." in body


@pytest.mark.parametrize("fragment", ["summary", "activity", "page", "mitigation_params"])
@pytest.mark.parametrize("role", ["viewer", "responder", "commander"])
def test_fragments_render_alone(page, incident, fragment, role):
    response = page(role).get(url(incident) + f"?fragment={fragment}", **HX)
    assert response.status_code == 200 and "<html" not in response.content.decode()


def test_activity_shows_mitigations_with_status_and_output(page, users, incident):
    mitigation = services.mitigation_start(incident=incident, action="enable_read_only", actor=users["responder"])
    services.mitigation_execute(mitigation_id=mitigation.id)
    body = page("viewer").get(url(incident) + "?fragment=activity").content.decode()
    assert "mstatus-succeeded" in body and "READ_ONLY_MODE is on" in body
    assert "mitigation requested" in body and "mitigation succeeded" in body


def test_get_on_an_action_url_is_not_allowed(page, incident):
    assert page("commander").get(url(incident, "resolve")).status_code == 405
    assert page("commander").post(url(incident, "explode")).status_code == 404


def test_after_a_post_the_live_sections_catch_up_once(page, incident):
    """Events that arrive while a form's answer is on its way went to the sections it replaces."""
    live = f'hx-trigger="sse:{incident.public_id}, load"'
    assert live not in page("responder").get(url(incident)).content.decode()
    body = page("responder").post(url(incident, "acknowledge"), **HX).content.decode()
    assert body.count(live) == 2

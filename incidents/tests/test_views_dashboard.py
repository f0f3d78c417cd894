"""The dashboard page and its live fragments, for each role."""

from datetime import timedelta

import pytest

from incidents.lifecycle import services
from incidents.lifecycle.models import Incident


def test_anonymous_is_sent_to_login(page, db):
    response = page(None).get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_user_without_a_role_is_refused(page):
    assert page("nobody").get("/").status_code == 403


def test_empty_dashboard_says_all_quiet(page):
    body = page("viewer").get("/").content.decode()
    assert "No open incidents. All quiet." in body
    assert "Backup freshness vs RPO" in body and "never" in body
    assert "No recovery runs or drills recorded yet." in body


@pytest.mark.parametrize("role, sees_declare", [("viewer", False), ("responder", False), ("commander", True)])
def test_declare_button_only_for_commanders(page, role, sees_declare):
    body = page(role).get("/").content.decode()
    assert ('href="/incidents/new/"' in body) is sees_declare


def test_open_incidents_grouped_by_severity_with_countdown(clock, page, users, incident):
    services.incident_declare(severity="P0", title="Database down", services=["database"], actor="system")
    closed = services.incident_declare(severity="P2", title="Old one", actor="system")
    services.incident_resolve(incident=closed, resolution="fixed", actor="system")
    response = page("viewer").get("/")
    body = response.content.decode()
    assert response.status_code == 200
    assert body.index("P0 Critical") < body.index("P1 ") < body.index("Services</h2>")
    assert "Database down" in body and "High error rate on the API" in body
    assert "Old one" not in body
    assert "due in" in body and "OVERDUE" not in body
    assert 'sse-connect="/events/stream/?last_event_id=' in body
    assert 'hx-trigger="sse:incident, sse:mitigation"' in body


def test_overdue_response_is_red_and_labelled(clock, page, incident):
    Incident.objects.filter(pk=incident.pk).update(declared_at=clock.now - timedelta(hours=2))
    body = page("viewer").get("/?fragment=incidents").content.decode()
    assert "OVERDUE by" in body and "countdown overdue" in body and "is-overdue" in body


def test_acknowledged_incident_shows_response_met(page, users, incident):
    services.incident_acknowledge(incident=incident, actor=users["responder"])
    body = page("viewer").get("/?fragment=incidents").content.decode()
    assert "✓ acknowledged in" in body and "responder" in body


@pytest.mark.parametrize("fragment", ["incidents", "services", "backups", "recovery"])
@pytest.mark.parametrize("role", ["viewer", "responder", "commander", "admin"])
def test_fragments_render_alone(page, incident, fragment, role):
    response = page(role).get(f"/?fragment={fragment}", HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body and "<h2" in body


def test_service_board_shows_rto_health_and_affecting_incidents(page, incident):
    body = page("viewer").get("/?fragment=services").content.decode()
    assert "API Gateway" in body and "5 min / 15 min" in body
    assert "health-unknown" in body
    assert incident.public_id in body


def test_unknown_fragment_is_404(page):
    assert page("viewer").get("/?fragment=nope").status_code == 404


def test_dashboard_queries_do_not_grow_with_incidents(page):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = page("viewer")

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/").status_code == 200
        return len(ctx.captured_queries)

    services.incident_declare(severity="P1", title="First", services=["api"], actor="system")
    few = queries()
    for n in range(15):
        services.incident_declare(severity="P2", title=f"Incident {n}", services=["api", "cache"], actor="system")
    assert queries() == few


@pytest.mark.django_db(transaction=True)  # the backup's heartbeat writes from its own connection: it must see the row
def test_backup_panel_shows_freshness_against_rpo(page, django_capture_on_commit_callbacks):
    from backups import services as backup_services

    body = page("viewer").get("/?fragment=backups").content.decode()
    assert "Database" in body and "never" in body and "? unknown" in body
    with django_capture_on_commit_callbacks(execute=True):
        backup = backup_services.backup_start(kind="database", actor="test", inline=True)
    backup.refresh_from_db()
    assert backup.status == "succeeded", backup.error
    body = page("viewer").get("/?fragment=backups").content.decode()
    row = body.split("<td>Database</td>", 1)[1].split("</tr>", 1)[0]
    assert "ago" in row and "✓ ok" in row and "1 h / 4 h" in row.replace("\xa0", " ") or "✓ ok" in row


def test_recovery_panel_lists_recent_runs_and_drills(page, django_capture_on_commit_callbacks):
    from recovery import services as recovery_services

    with django_capture_on_commit_callbacks(execute=True):
        run = recovery_services.run_start(plan="cache", actor="test", dry_run=True, inline=True)
    body = page("viewer").get("/?fragment=recovery").content.decode()
    assert f'href="{run.get_absolute_url()}"' in body and "cache plan" in body and "dry run" in body

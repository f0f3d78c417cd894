"""Plots (SVG) render for empty and full data; reports, review and action-item pages; HTML edit flow."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import F
from django.test import Client

from incidents.lifecycle.models import Incident, Status
from incidents.postmortems import reports as report_views
from incidents.postmortems import services as postmortem_services
from incidents.postmortems.models import PostMortem
from incidents.tests.test_mttx_metrics import T0, make, recovery_fixtures
from pitchey_incidents import charts

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def plain_static(settings):
    """Tests run with DEBUG off and no collectstatic: serve static names without the manifest."""
    storage = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    settings.STORAGES = {**settings.STORAGES, "staticfiles": storage}


def svg(markup: str) -> ET.Element:
    return ET.fromstring(markup)  # well-formed XML or it raises


def login(users, role: str) -> Client:
    client = Client()
    client.force_login(users[role])
    return client


def test_charts_render_empty_states():
    for chart in (
        charts.StackedBars(title="Incidents", labels=["W1", "W2"], series=[charts.Series("P0", "P0", [0, 0])]),
        charts.Lines(title="MTTA", labels=["W1"], series=[charts.Series("P0", "P0", [None])], references=[("x", 5)]),
        charts.TargetBars(title="RTO", rows=[]),
    ):
        root = svg(chart.render())
        texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
        assert texts == [chart.empty_text]
        assert root.get("role") == "img" and root.get("aria-label") == chart.title


def test_charts_render_full_data_to_scale():
    bars = charts.StackedBars(
        title="Incidents <per> week",
        labels=["W45", "W46"],
        series=[charts.Series("P0", "P0", [2, 0]), charts.Series("P1", "P1", [1, 3])],
    )
    root = svg(bars.render())
    ns = "{http://www.w3.org/2000/svg}"
    assert root.find(f"{ns}title").text == "Incidents <per> week"  # escaped in markup, intact as text
    rects = [
        r
        for r in root.iter(f"{ns}rect")
        if (r.get("class") or "").startswith("s-") and r.find(f"{ns}title") is not None
    ]
    heights = {r.find(f"{ns}title").text: float(r.get("height")) for r in rects}
    # Axis max is 4 (four whole-number steps above 3), plot height 260-28-44 = 188 px: 2 incidents → 94 px.
    assert heights == {"W45: 2 P0": 94.0, "W45: 1 P1": 47.0, "W46: 3 P1": 141.0}
    ticks = [t.text for t in root.iter(f"{ns}text") if t.get("class") == "tick" and t.get("text-anchor") == "end"]
    assert ticks == ["0", "1", "2", "3", "4"]

    lines = charts.Lines(
        title="MTTA",
        unit="min",
        labels=["a", "b", "c", "d"],
        series=[charts.Series("P0 MTTA", "P0", [10, 20, None, 5])],
        references=[("P0 response time", 15)],
    )
    root = svg(lines.render())
    polylines = list(root.iter(f"{ns}polyline"))
    assert len(polylines) == 1 and len(polylines[0].get("points").split()) == 2  # the gap breaks the line
    assert len(list(root.iter(f"{ns}circle"))) == 3
    assert [t.text for t in root.iter(f"{ns}text") if t.get("class") == "reference-label"] == ["P0 response time"]

    targets = charts.TargetBars(
        title="RTO",
        unit="s",
        rows=[charts.TargetRow("database", 600, 900, 1800), charts.TargetRow("api", 1000, 300, 900)],
    )
    root = svg(targets.render())
    states = [r.get("class") for r in root.iter(f"{ns}rect") if r.find(f"{ns}title") is not None]
    assert states == ["s-met", "s-missed"]
    assert charts.TargetRow("auth", 700, 600, 1200).state == "late"


def test_reports_page_empty_and_full(users, clock):
    clock.set(datetime(2026, 11, 20, 12, 0, tzinfo=UTC))  # the fixtures below are from 2026-11-02 and 03
    client = login(users, "viewer")
    r = client.get("/reports/")
    assert r.status_code == 200
    html = r.content.decode()
    assert html.count("<svg") == 6 and "No incidents in these weeks." in html
    assert "No finished recovery runs or drills measured an RTO in this period." in html
    assert "No finished recovery runs or drills measured an RPO in this period." in html
    # No backups yet: the data types are listed with their RPO marks and no bars.
    assert '">Database</text>' in html and '">Media Files</text>' in html and "newest verified backup — old" in html
    make("P0", 0, detected=60, ack=600, mitigated=1200, resolved=3600, services=["database"])
    shift = clock.now - timedelta(days=1) - T0  # move the fixture into the last 30 days
    fields = ("declared_at", "detected_at", "acknowledged_at", "mitigated_at", "resolved_at")
    Incident.objects.update(**{f: F(f) + shift for f in fields})
    recovery_fixtures()
    html = client.get("/reports/?weeks=8").content.decode()
    assert "11-02 run #" in html and " database: 10 min (target 15, met)</title>" in html
    assert (
        " api: 16.7 min (target 5, missed)</title>" in html and " database: 83.3 min (target 60, late)</title>" in html
    )
    assert (
        "No finished recovery runs" not in html and "3 succeeded, 1 failed" not in html
    )  # those are older than 30 days
    assert "No incidents in these weeks." not in html and "P0 response time" in html
    flat = re.sub(r">\s+<", "><", html)
    assert "<td>1</td><td>1 min</td><td>10 min</td><td>20 min</td><td>1 h</td><td>100 %</td>" in flat
    assert Client().get("/reports/").status_code == 302  # login required


def test_weekly_and_monthly_reviews(users, clock):
    clock.set(NOW)  # a fortnight after the fixtures: the action item due on 2026-11-03 is overdue
    make("P1", 0, ack=300, resolved=3600)  # 2026-11-02 (W45)
    incident = Incident.objects.get()
    incident.status = Status.RESOLVED
    incident.save()
    PostMortem.objects.create(incident=incident)
    postmortem_services.action_item_create(
        incident=incident, title="Fix the disk alert", actor="commander", due_at=datetime(2026, 11, 3, tzinfo=UTC)
    )
    client = login(users, "viewer")
    html = client.get("/reviews/weekly/?week=2026-W45").content.decode()
    assert "week 45 of 2026" in html and incident.public_id in html and "Fix the disk alert" in html
    assert "No drills finished in this period." in html
    # Nothing measured: the review must not claim that every objective was met.
    assert "Every measured RTO and RPO" not in html and "Nothing was measured in this period" in html
    recovery_fixtures()
    html = re.sub(r">\s+<", "><", client.get("/reviews/weekly/?week=2026-W45").content.decode())
    assert re.search(
        r">drill #\d+</a></td><td>database</td><td>2026-11-03 15:00 UTC</td>"
        r"<td><span class=\"status rstatus-succeeded\">✓ Succeeded</span></td>"
        r"<td>0 of 1 <strong class=\"error\">\(1 missed\)</strong></td><td>no</td>",
        html,
    )
    assert "<td>RTO</td><td>api</td><td>5 min</td><td>15 min</td><td>16 min 40 s</td>" in html
    assert "<td>RPO</td><td>database</td><td>1 h</td><td>4 h</td><td>1 h 23 min</td>" in html
    assert "breach</strong>: Database — newest verified backup" in html
    assert "unknown</strong>: Configuration — no verified backup" in html
    assert "?week=2026-W44" in html and "?week=2026-W46" in html and "overdue" in html
    assert "/static/css/reports.css" in html
    empty = client.get("/reviews/weekly/?week=2026-W40").content.decode()
    assert "No incidents were declared in this period." in empty
    html = client.get("/reviews/monthly/?month=2026-11").content.decode()
    assert (
        "November 2026" in html and incident.public_id in html and "?month=2026-10" in html and "?month=2026-12" in html
    )
    r = client.get("/reviews/weekly/?week=last")
    assert r.status_code == 400 and "week must look like 2026-W47" in r.content.decode()
    assert client.get("/reviews/monthly/?month=2026-13").status_code == 400


def test_periods():
    p = report_views.week_period("2026-W01", NOW.date())
    assert (p.start.isoformat(), p.end.isoformat()) == ("2025-12-29", "2026-01-05")
    p = report_views.month_period("2026-12", NOW.date())
    assert (p.start.isoformat(), p.end.isoformat()) == ("2026-12-01", "2027-01-01")
    assert report_views._shift(p, 1) == "2027-01" and report_views._shift(p, -1) == "2026-11"


def test_postmortem_page_edit_with_htmx_and_roles(users, clock):
    from incidents.lifecycle import services

    incident = services.incident_declare(severity="P2", title="Slow search", actor=users["commander"])
    client = login(users, "responder")
    r = client.get(f"/incidents/{incident.public_id}/postmortem/")
    assert r.status_code == 200 and "opens when the incident is resolved" in r.content.decode()
    services.incident_resolve(incident=incident, resolution="Index rebuilt", actor=users["commander"])
    html = client.get(f"/incidents/{incident.public_id}/postmortem/").content.decode()
    assert 'data-deadline="initial_report"' in html and ("due in 23 h 59 min" in html or "due in 1 d" in html)
    assert "Slow search" in html and "Export Markdown" in html and "complete-btn" not in html  # responder

    r = client.post(
        f"/incidents/{incident.public_id}/postmortem/",
        {"summary": "S", "impact": "I", "root_cause": "Stale index", "status": "in_review", "meeting_at": ""},
        HTTP_HX_REQUEST="true",
    )
    assert r.status_code == 200 and "Saved." in r.content.decode() and 'hx-swap-oob="true"' in r.content.decode()
    pm = PostMortem.objects.get(incident=incident)
    assert pm.root_cause == "Stale index" and pm.status == "in_review"
    r = client.post(f"/incidents/{incident.public_id}/postmortem/", {"meeting_at": "tomorrow"}, HTTP_HX_REQUEST="true")
    assert "meeting_at: must be a date and time" in r.content.decode()
    r = client.post(
        f"/incidents/{incident.public_id}/action-items/",
        {"title": "Alert on index age", "owner": "ghost"},
        HTTP_HX_REQUEST="true",
    )
    assert "owner: no active user" in r.content.decode()
    r = client.post(
        f"/incidents/{incident.public_id}/action-items/",
        {"title": "Alert on index age", "owner": "responder"},
        HTTP_HX_REQUEST="true",
    )
    assert "Alert on index age" in r.content.decode()
    item = incident.action_items.get()
    r = client.post(f"/action-items/{item.id}/", {"status": "done"}, HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and 'value="done" selected' in r.content.decode()
    listing = client.get("/action-items/?status=done").content.decode()
    assert "Alert on index age" in listing

    viewer = login(users, "viewer")
    assert viewer.post(f"/incidents/{incident.public_id}/postmortem/", {"summary": "x"}).status_code == 403
    assert client.post(f"/incidents/{incident.public_id}/postmortem/complete/").status_code == 403
    commander = login(users, "commander")
    r = commander.post(f"/incidents/{incident.public_id}/postmortem/complete/", HTTP_HX_REQUEST="true")
    assert "Cannot complete: sections still empty: contributing_factors" in r.content.decode()
    assert Incident.objects.get(pk=incident.pk).status == Status.RESOLVED

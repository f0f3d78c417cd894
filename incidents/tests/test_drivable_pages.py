"""Recovery and backups pages people can drive; outcome badges that differ in colour and icon; the
post-mortem link first on a resolved incident; a favicon; no roadmap text; time to mitigate from the
first mitigation that worked."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.template import Context, Template

from backups.models import Backup
from incidents.lifecycle import services
from incidents.lifecycle.models import Incident, Mitigation
from pitchey_incidents.testing import ROOT
from recovery.models import RecoveryPlan

pytestmark = pytest.mark.django_db


def test_every_plan_shows_its_buttons_with_what_will_happen(page):
    html = page("commander").get("/recovery/").content.decode()
    plans = list(RecoveryPlan.objects.all())
    assert plans
    for plan in plans:
        section = re.search(rf'<section class="panel plan" data-plan="{plan.slug}".*?</section>', html, re.S).group(0)
        visible = section.split("<details>", 1)[0]  # the buttons are not hidden in the collapsed steps
        n = plan.steps.count()
        if plan.is_drill:
            assert ">Run drill</button>" in visible and "required" in visible and f"Run the {n} step" in visible
        else:
            assert ">Dry run</button>" in visible and "changes nothing" in visible
            assert ">Start recovery</button>" in visible and f"Run the {n} step" in visible
            assert re.search(r'name="confirm" value="yes" required', visible)
    assert "Start recovery" not in page("viewer").get("/recovery/").content.decode()


def test_backups_page_has_panels_empty_states_and_distinct_badges(page):
    html = page("viewer").get("/backups/").content.decode()
    assert html.count('<section class="panel"') >= 3 and "No backups yet." in html
    Backup.objects.create(kind="database", status="succeeded")
    Backup.objects.create(kind="config", status="failed", error="disk full")
    html = page("viewer").get("/backups/").content.decode()
    assert 'class="outcome outcome-ok outcome-succeeded"' in html and "✓</span> Succeeded" in html
    assert 'class="outcome outcome-bad outcome-failed"' in html and "✗</span> Failed" in html


def test_status_badges_differ_in_colour_and_icon():
    def badge(status: str) -> str:
        return Template("{% load pitchey_format %}{% status_badge s %}").render(Context({"s": status}))

    ok, bad, unsure = badge("succeeded"), badge("failed"), badge("needs_attention")
    assert "outcome-ok" in ok and "✓" in ok
    assert "outcome-bad" in bad and "✗" in bad
    assert "outcome-unsure" in unsure and "?" in unsure and "Inconclusive" in unsure
    css = (ROOT / "static/css/app.css").read_text()
    rules = {tone: re.search(rf"\.outcome-{tone} \{{([^}}]*)\}}", css).group(1) for tone in ("ok", "bad", "unsure")}
    colours = {re.search(r"color: (var\(--\w+\))", rule).group(1) for rule in rules.values()}
    assert len(colours) == 3


def test_favicon_and_no_roadmap_text(page):
    r = page(None).get("/favicon.ico")
    assert r.status_code == 301 and r["Location"].endswith(".svg")
    assert finders.find("favicon.svg")
    assert 'rel="icon"' in page("viewer").get("/").content.decode()
    assert 'rel="icon"' in page(None).get("/status/").content.decode()
    roadmap = re.compile(r"as those features land|coming soon|not yet available|will appear here|roadmap", re.I)
    found = [
        str(path.relative_to(ROOT))
        for base in ("templates", "recovery/templates", "incidents", "backups")
        for path in Path(ROOT, base).rglob("*.html")
        if roadmap.search(path.read_text())
    ]
    assert found == []


def test_postmortem_link_is_at_the_top_of_a_resolved_incident(users, page):
    incident = services.incident_declare(severity="P2", title="Slow", actor=users["commander"])
    assert "data-postmortem-link" not in page("viewer").get(incident.get_absolute_url()).content.decode()
    services.incident_resolve(incident=incident, resolution="Fixed", actor=users["commander"])
    html = page("viewer").get(incident.get_absolute_url()).content.decode()
    assert html.index("data-postmortem-link") < html.index('id="incident-communications"')
    assert html.index("data-postmortem-link") < html.index("<h2")


def test_time_to_mitigate_counts_from_the_first_succeeded_mitigation(users, clock):
    commander = users["commander"]
    incident = services.incident_declare(severity="P1", title="Errors", actor=commander)
    clock.advance(minutes=3)
    dry = services.mitigation_start(incident=incident, action="enable_read_only", dry_run=True, actor=commander)
    services.mitigation_execute(mitigation_id=dry.id)
    assert Incident.objects.get(pk=incident.pk).mitigated_at is None  # a dry run mitigates nothing
    clock.advance(minutes=7)
    m = services.mitigation_start(incident=incident, action="enable_read_only", actor=commander)
    services.mitigation_execute(mitigation_id=m.id)
    m = Mitigation.objects.get(pk=m.pk)
    assert m.status == "succeeded"
    clock.advance(minutes=20)
    services.incident_monitor(incident=incident, actor=commander)
    incident.refresh_from_db()
    assert incident.mitigated_at == m.finished_at == clock.now - timedelta(minutes=20)

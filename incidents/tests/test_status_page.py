"""The public status page and its Atom feed: no login, nothing internal."""

from __future__ import annotations

from datetime import timedelta
from xml.etree import ElementTree

import pytest

from incidents.lifecycle import services
from incidents.lifecycle.models import Incident

pytestmark = pytest.mark.django_db


@pytest.fixture
def incidents(users, clock):
    db_outage = services.incident_declare(
        severity="P0",
        title="Database Outage",
        description="pg-primary-7 OOM; password rotation pending",
        services=["database"],
        actor=users["commander"],
    )
    services.incident_note(
        incident=db_outage, message="internal: suspect the 03:00 migration", actor=users["commander"]
    )
    services.incident_post_update(
        incident=db_outage,
        public_status="identified",
        message="We found the cause and are failing over.",
        actor=users["commander"],
    )
    slow = services.incident_declare(severity="P2", title="Slow uploads", services=["media"], actor=users["commander"])
    services.incident_resolve(
        incident=slow, resolution="Rolled back build 4411 on host media-3", actor=users["commander"]
    )
    old = services.incident_declare(severity="P3", title="Ancient glitch", actor=users["commander"])
    services.incident_resolve(incident=old, resolution="fixed", actor=users["commander"])
    Incident.objects.filter(pk=old.pk).update(declared_at=clock.now - timedelta(days=91))
    return db_outage, slow


def test_status_page_needs_no_login_and_shows_only_public_things(client, incidents, django_assert_max_num_queries):
    db_outage, slow = incidents
    with django_assert_max_num_queries(8):
        r = client.get("/status/")
    assert r.status_code == 200
    page = r.content.decode()
    assert 'id="service-database"><td>Database</td><td class="status-major_outage">Major outage' in page
    assert 'id="service-media"><td>Media Storage</td><td class="status-operational">Operational' in page
    assert 'class="overall status-major_outage"' in page
    assert "Database Outage" in page and "We found the cause and are failing over." in page
    assert "Slow uploads" in page  # resolved, in the last 90 days
    assert "Ancient glitch" not in page  # older than 90 days
    for secret in ("pg-primary-7", "internal: suspect", "build 4411", "commander", db_outage.public_id + "/"):
        assert secret not in page


def test_atom_feed_lists_public_updates(client, incidents):
    db_outage, slow = incidents
    r = client.get("/status/feed.atom")
    assert r.status_code == 200 and r["Content-Type"].startswith("application/atom+xml")
    ns = {"a": "http://www.w3.org/2005/Atom"}
    root = ElementTree.fromstring(r.content)
    titles = [e.findtext("a:title", namespaces=ns) for e in root.findall("a:entry", ns)]
    assert set(titles) == {
        "Investigating: Database Outage",
        "Identified: Database Outage",
        "Investigating: Slow uploads",
        "Resolved: Slow uploads",
    }
    body = r.content.decode()
    assert "build 4411" not in body and "pg-primary-7" not in body

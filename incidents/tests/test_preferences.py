"""Each person sees times in their own zone (UTC unless they choose another), written one way."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from incidents.lifecycle import services
from pitchey_incidents.models import UserPreference

pytestmark = pytest.mark.django_db


@pytest.fixture
def page(users):
    def client(role: str) -> Client:
        c = Client()
        c.force_login(users[role])
        return c

    return client


def test_time_zone_is_utc_by_default_and_a_choice_applies_everywhere(users, page, clock):
    incident = services.incident_declare(severity="P2", title="Slow", actor=users["commander"])
    stamp = r"2026-11-02 \d{2}:\d{2}(?::\d{2})? "
    viewer = page("viewer")
    html = viewer.get(incident.get_absolute_url()).content.decode()
    assert re.search(stamp + "UTC", html) and not re.search(stamp + "CET", html)

    assert viewer.get("/preferences/").status_code == 200
    assert viewer.post("/preferences/", {"time_zone": "Mars/Olympus"}).status_code == 400
    r = viewer.post("/preferences/", {"time_zone": "Europe/Paris"})
    assert r.status_code == 200 and "Times now show in Europe/Paris" in r.content.decode()
    assert UserPreference.objects.get(user=users["viewer"]).time_zone == "Europe/Paris"
    html = viewer.get(incident.get_absolute_url()).content.decode()
    assert re.search(stamp + "CET", html) and not re.search(stamp + "UTC", html)

    # Someone else still sees UTC; a new session of the same person sees Paris (stored, not only in the session).
    assert re.search(stamp + "UTC", page("commander").get(incident.get_absolute_url()).content.decode())
    again = page("viewer")
    assert re.search(stamp + "CET", again.get(incident.get_absolute_url()).content.decode())

"""On-call rotations (handoff, shift length, overrides) and ``/api/v1/oncall/``."""

from __future__ import annotations

from datetime import timedelta

import pytest

from incidents.comms.models import OnCallMember, OnCallOverride, OnCallRotation
from incidents.comms.oncall import oncall_now, oncall_overview

pytestmark = pytest.mark.django_db


@pytest.fixture
def rotation(users, clock):
    handoff = clock.now - timedelta(days=10, hours=1)
    rot = OnCallRotation.objects.create(name="primary", handoff_at=handoff, shift_s=7 * 86400)
    for position, role in enumerate(("responder", "commander", "admin")):
        OnCallMember.objects.create(rotation=rot, user=users[role], position=position)
    return rot


def test_members_take_turns_from_the_handoff_time(rotation):
    start = rotation.handoff_at
    assert oncall_now(rotation, start)["user"] == "responder"
    assert oncall_now(rotation, start + timedelta(days=7) - timedelta(seconds=1))["user"] == "responder"
    week2 = oncall_now(rotation, start + timedelta(days=7))
    assert week2 == {
        "rotation": "primary",
        "user": "commander",
        "override": False,
        "until": start + timedelta(days=14),
        "next": "admin",
    }
    assert oncall_now(rotation, start + timedelta(days=21))["user"] == "responder"  # wraps around
    assert oncall_now(rotation, start - timedelta(days=1))["user"] == "admin"  # before the first handoff


def test_an_override_wins_while_it_lasts(rotation, users, clock):
    now = clock.now
    OnCallOverride.objects.create(
        rotation=rotation, user=users["viewer"], starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=2)
    )
    (current,) = oncall_overview(now)
    assert current["user"] == "viewer" and current["override"] and current["until"] == now + timedelta(hours=2)
    assert current["next"] == "commander"  # who the schedule says, once the override ends
    assert oncall_overview(now + timedelta(hours=3))[0]["user"] == "commander"


def test_oncall_api_lists_rotations_and_emergency_contacts(api, rotation, users, clock):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = api("viewer")
    with CaptureQueriesContext(connection) as one:
        r = client.get("/api/v1/oncall/")
    assert r.status_code == 200
    for n in range(3):  # more rotations, members and overrides: the same number of queries
        extra = OnCallRotation.objects.create(name=f"r{n}", handoff_at=rotation.handoff_at, shift_s=3600)
        OnCallMember.objects.create(rotation=extra, user=users["admin"])
        now = clock.now
        OnCallOverride.objects.create(rotation=extra, user=users["viewer"], starts_at=now, ends_at=now + timedelta(1))
    with CaptureQueriesContext(connection) as four:
        assert len(client.get("/api/v1/oncall/").json()["rotations"]) == 4
    assert len(four) == len(one)
    body = r.json()
    assert body["rotations"][0]["rotation"] == "primary" and body["rotations"][0]["user"] == "commander"
    contacts = body["emergency_contacts"]
    assert contacts[0] == {"role": "Primary On-Call", "contact": "PagerDuty", "availability": "24/7"}
    assert {"role": "Neon Support", "contact": "support@neon.tech", "availability": "24/7"} in contacts
    assert api(None).get("/api/v1/oncall/").status_code == 401
    assert api("nobody").get("/api/v1/oncall/").status_code == 403


def test_dashboard_shows_who_is_on_call(client, users, rotation):
    client.force_login(users["viewer"])
    page = client.get("/").content.decode()
    assert "On call now" in page and "<b>primary</b>: commander" in page and "Database Admin" in page

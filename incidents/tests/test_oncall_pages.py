"""On-call people can live with: rotations, members and overrides managed on a page (commanders,
not only the admin; responders cover for someone), a person's own shifts, iCalendar feeds behind a
revocable secret URL, and the handoff notification with the open incidents."""

from __future__ import annotations

from datetime import timedelta

import icalendar
import pytest
from django.test import Client

from incidents.comms import people, schedule
from incidents.comms.models import CalendarFeed, EscalationTarget, Notification, OnCallOverride, OnCallRotation
from incidents.comms.services import notification_deliver
from incidents.lifecycle import services
from incidents.lifecycle.models import EscalationLevel
from incidents.tests.paging_servers import FakeNtfy


@pytest.fixture
def managed(page, users, clock):
    """A rotation made through the page by a commander: responder then commander, 12-hour shifts."""
    commander = page("commander")
    handoff = clock.now - timedelta(hours=1)
    response = commander.post(
        "/people/oncall/",
        {"do": "rotation-save", "name": "primary", "handoff_at": handoff.strftime("%Y-%m-%dT%H:%M"), "shift_hours": 12},
    )
    assert response.status_code == 302
    rotation = OnCallRotation.objects.get(name="primary")
    for name in ("responder", "commander"):
        assert (
            commander.post("/people/oncall/", {"do": "member-add", "rotation": rotation.pk, "user": name}).status_code
            == 302
        )
    level = EscalationLevel.objects.get(level=1)
    commander.post("/people/oncall/", {"do": "target-add", "level": level.pk, "rotation": rotation.pk})
    return rotation


@pytest.mark.django_db
def test_a_commander_manages_rotations_and_levels_from_the_page(users, page, managed, clock):
    assert [m.user.username for m in managed.members.all()] == ["responder", "commander"]
    assert managed.shift_s == 12 * 3600
    assert EscalationTarget.objects.filter(level__level=1, rotation=managed).exists()
    html = page("viewer").get("/people/oncall/").content.decode()
    assert "On call now: <strong data-oncall>responder</strong>" in html
    assert html.count("data-empty-level") == EscalationLevel.objects.count() - 1  # levels 2-4 still page nobody
    member = managed.members.get(user__username="commander")
    page("commander").post("/people/oncall/", {"do": "member-up", "member": member.pk})
    assert [m.user.username for m in managed.members.order_by("position")] == ["commander", "responder"]
    # Viewers and responders cannot change rotations.
    assert (
        page("viewer")
        .post("/people/oncall/", {"do": "member-add", "rotation": managed.pk, "user": "admin"})
        .status_code
        == 403
    )
    assert (
        page("responder").post("/people/oncall/", {"do": "rotation-delete", "rotation": managed.pk}).status_code == 403
    )
    bad = page("commander").post(
        "/people/oncall/", {"do": "rotation-save", "name": "x", "handoff_at": "", "shift_hours": 8}
    )
    assert bad.status_code == 400 and "Handoff_at" in bad.content.decode()


@pytest.mark.django_db
def test_a_responder_covers_a_shift_and_sees_their_own_shifts(users, page, managed, clock):
    start, end = clock.now + timedelta(hours=2), clock.now + timedelta(hours=5)
    fmt = "%Y-%m-%dT%H:%M"
    # A responder may put themselves in, not someone else.
    refused = page("responder").post(
        "/people/oncall/",
        {
            "do": "override-add",
            "rotation": managed.pk,
            "user": "admin",
            "starts_at": start.strftime(fmt),
            "ends_at": end.strftime(fmt),
        },
    )
    assert refused.status_code == 403
    ok = page("viewer" if False else "responder").post(
        "/people/oncall/",
        {"do": "override-add", "rotation": managed.pk, "starts_at": start.strftime(fmt), "ends_at": end.strftime(fmt)},
    )
    assert ok.status_code == 302
    override = OnCallOverride.objects.get(rotation=managed)
    assert override.user.username == "responder" and override.starts_at == start.replace(second=0, microsecond=0)
    mine = schedule.person_shifts(users["commander"], clock.now, clock.now + timedelta(days=2))
    # commander's shifts start at handoff + 12 h, + 36 h: two in the next two days
    assert [(s["start"] - managed.handoff_at).total_seconds() / 3600 for s in mine] == [12, 36]
    html = page("responder").get("/people/oncall/").content.decode()
    assert html.count("data-shift") >= 3 and "covering" in html
    backwards = page("responder").post(
        "/people/oncall/",
        {"do": "override-add", "rotation": managed.pk, "starts_at": end.strftime(fmt), "ends_at": start.strftime(fmt)},
    )
    assert backwards.status_code == 400


@pytest.mark.django_db
def test_calendar_feeds_per_person_and_rotation_are_icalendar_and_revocable(users, page, managed, clock):
    page("commander").post("/people/oncall/", {"do": "feed-create"})
    page("commander").post("/people/oncall/", {"do": "feed-create", "rotation": managed.pk})
    mine = CalendarFeed.objects.get(user=users["commander"])
    rotation_feed = CalendarFeed.objects.get(rotation=managed)
    anonymous = Client()
    response = anonymous.get(f"/people/calendar/{mine.token}.ics")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/calendar")
    cal = icalendar.Calendar.from_ical(response.content)
    events = [c for c in cal.walk("VEVENT")]
    assert events and all("commander" in str(e["SUMMARY"]) for e in events)
    first = min(events, key=lambda e: e["DTSTART"].dt)
    assert first["DTSTART"].dt == managed.handoff_at + timedelta(hours=12)
    assert first["DTEND"].dt - first["DTSTART"].dt == timedelta(hours=12)
    everyone = icalendar.Calendar.from_ical(anonymous.get(f"/people/calendar/{rotation_feed.token}.ics").content)
    names = {str(e["SUMMARY"]).rsplit("— ", 1)[1] for e in everyone.walk("VEVENT")}
    assert names == {"responder", "commander"}
    assert page("commander").post("/people/oncall/", {"do": "feed-revoke", "feed": mine.pk}).status_code == 302
    assert anonymous.get(f"/people/calendar/{mine.token}.ics").status_code == 404
    assert anonymous.get("/people/calendar/not-a-token.ics").status_code == 404
    # Someone else's feed cannot be revoked by a responder.
    assert page("responder").post("/people/oncall/", {"do": "feed-revoke", "feed": rotation_feed.pk}).status_code == 400


@pytest.mark.django_db
def test_whoever_comes_on_call_is_told_with_the_open_incidents(users, managed, clock, settings):
    ntfy = FakeNtfy()
    try:
        settings.NTFY_DEFAULT_SERVER = ntfy.url
        for name in ("responder", "commander"):
            method = people.contact_method_add(user=users[name], kind="push", address=f"{name}-phone")
            people.contact_method_send_code(method)
            method.refresh_from_db()
            people.contact_method_verify(method, method.verification_code)
        incident = services.incident_declare(severity="P2", title="Slow search", actor=users["commander"])
        assert schedule.handoff_notify() == 1  # responder's shift, first seen
        assert schedule.handoff_notify() == 0  # told once per shift
        clock.advance(hours=11, minutes=30)  # the commander's shift starts
        assert schedule.handoff_notify() == 1
        rows = Notification.objects.filter(kind="handoff").order_by("id")
        assert [r.context["person"] for r in rows] == ["responder", "commander"]
        assert [notification_deliver(notification_id=r.id) for r in rows] == ["sent", "sent"]
        note = ntfy.messages("commander-phone")[-1]
        assert note["title"] == "You are on call: primary" and incident.public_id in note["message"]
    finally:
        ntfy.close()

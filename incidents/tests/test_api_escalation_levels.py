"""``/api/v1/escalation-levels/`` and ``/api/v1/oncall/rotations/``: the escalation policy replaced
whole or not at all (an admin changes levels and times, a commander whom they page), rotations with
their members, and overrides (a responder covers themselves, a commander sets anyone)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from incidents.comms.models import EscalationTarget, OnCallMember, OnCallOverride, OnCallRotation
from incidents.comms.oncall import level_targets
from incidents.lifecycle.models import EscalationLevel

pytestmark = pytest.mark.django_db

LEVELS = "/api/v1/escalation-levels/"
ROTATIONS = "/api/v1/oncall/rotations/"
RUNBOOK = [
    {"level": 1, "name": "Primary on-call", "after_s": 0, "targets": []},
    {"level": 2, "name": "Secondary on-call", "after_s": 300, "targets": []},
    {"level": 3, "name": "Team lead", "after_s": 900, "targets": []},
    {"level": 4, "name": "CTO", "after_s": 1800, "targets": []},
]


@pytest.fixture
def primary(users, clock):
    rotation = OnCallRotation.objects.create(name="primary", handoff_at=clock.now - timedelta(hours=1), shift_s=86400)
    for position, role in enumerate(("responder", "commander")):
        OnCallMember.objects.create(rotation=rotation, user=users[role], position=position)
    return rotation


def stored() -> list[tuple]:
    return [
        (lv.level, lv.name, lv.delay_s, sorted((t.user_id or 0, t.rotation_id or 0) for t in lv.targets.all()))
        for lv in EscalationLevel.objects.order_by("level")
    ]


def fields_named(errors) -> set[str]:
    """Every field an error answer names, at any depth (a list's errors are keyed by the item's index)."""
    if not isinstance(errors, dict):
        return set()
    return {k for k in errors if not k.isdigit()} | {f for v in errors.values() for f in fields_named(v)}


def test_the_levels_read_as_the_runbook_seeds_them(api, users):
    assert api("viewer").get(LEVELS).json() == RUNBOOK
    assert api("nobody").get(LEVELS).status_code == 403


def test_an_admin_replaces_the_levels_at_once(api, users, primary, clock):
    levels = [
        {"level": 1, "name": "Primary", "after_s": 0, "targets": [{"rotation": primary.pk}]},
        {"level": 2, "name": "Lead", "after_s": 600, "targets": [{"user": "commander"}, {"user": "admin"}]},
    ]
    answer = api("admin").put(LEVELS, levels)
    assert answer.status_code == 200 and answer.json() == levels
    assert api("viewer").get(LEVELS).json() == levels
    one, two = EscalationLevel.objects.order_by("level")
    assert (one.delay_s, two.delay_s) == (0, 600) and EscalationLevel.objects.count() == 2
    assert level_targets(one, clock.now) == ["responder"]  # who is on call in the rotation now
    assert level_targets(two, clock.now) == ["commander", "admin"]
    again = [{**levels[0], "targets": [{"rotation": primary.pk}, {"rotation": primary.pk}]}, levels[1]]
    assert api("admin").put(LEVELS, again).json() == levels  # a target listed twice is kept once


@pytest.mark.parametrize(
    "change, field",
    [
        (lambda lv: lv[:1] + lv[2:], "level"),  # 1, 3, 4: a gap
        (lambda lv: [*lv, {**lv[0]}], "level"),  # level 1 twice
        (lambda lv: [lv[0], {**lv[1], "after_s": 1900}, *lv[2:]], "after_s"),  # level 2 after level 3
        (lambda lv: [{**lv[0], "after_s": "0"}, *lv[1:]], "after_s"),  # text for a number
        (lambda lv: [{**lv[0], "after_s": 7 * 86400 + 1}, *lv[1:]], "after_s"),
        (lambda lv: [{**lv[0], "name": ""}, *lv[1:]], "name"),
        (lambda lv: [{**lv[0], "targets": [{"user": "no-such-person"}]}, *lv[1:]], "targets"),
        (lambda lv: [{**lv[0], "targets": [{"rotation": 999999}]}, *lv[1:]], "targets"),
        (lambda lv: [{**lv[0], "targets": [{"user": "admin", "rotation": 1}]}, *lv[1:]], "targets"),
        (lambda lv: [{**lv[0], "targets": [{}]}, *lv[1:]], "targets"),
        (lambda lv: [{**lv[0], "targets": [{"rotation": "1"}]}, *lv[1:]], "targets"),
        (lambda lv: [], "non_field_errors"),
        (lambda lv: {"levels": lv}, "non_field_errors"),
    ],
)
def test_bad_levels_are_a_400_naming_the_field_and_change_nothing(api, users, change, field):
    EscalationTarget.objects.create(level=EscalationLevel.objects.get(level=1), user=users["responder"])
    before = stored()
    levels = [{**lv, "targets": [{"user": "commander"}]} for lv in RUNBOOK]
    answer = api("admin").put(LEVELS, change(levels))
    assert answer.status_code == 400
    assert field in fields_named(answer.json()), answer.json()
    assert stored() == before


def test_a_commander_changes_whom_the_levels_page_but_not_the_levels(api, users):
    retargeted = [{**lv, "targets": [{"user": "responder"}]} for lv in RUNBOOK]
    assert api("commander").put(LEVELS, retargeted).json() == retargeted
    before = stored()
    for changed in (
        [{**retargeted[0], "after_s": 60}, *retargeted[1:]],
        [{**retargeted[0], "name": "First"}, *retargeted[1:]],
        retargeted[:3],
    ):
        assert api("commander").put(LEVELS, changed).status_code == 403
    assert api("responder").put(LEVELS, RUNBOOK).status_code == 403
    assert stored() == before


def test_a_commander_creates_a_rotation_with_its_members(api, users, clock):
    handoff = clock.now - timedelta(hours=30)
    body = {"name": "primary", "handoff_at": handoff.isoformat(), "shift_s": 86400, "members": ["responder", "admin"]}
    made = api("commander").post(ROTATIONS, body)
    assert made.status_code == 201
    rotation = OnCallRotation.objects.get()
    expected = {
        "id": rotation.pk,
        "name": "primary",
        "handoff_at": "2026-11-01T03:00:00Z",
        "shift_s": 86400,
        "members": ["responder", "admin"],
        "oncall": "admin",  # the second shift since the handoff
    }
    assert made.json() == expected
    assert api("viewer").get(ROTATIONS).json() == [expected]
    assert api("viewer").get("/api/v1/oncall/").json()["rotations"][0]["user"] == "admin"
    refused = api("responder").post(ROTATIONS, {**body, "name": "secondary"})
    assert refused.status_code == 403 and OnCallRotation.objects.count() == 1


@pytest.mark.parametrize(
    "change, field",
    [
        ({"members": ["responder", "no-such-person"]}, "members"),
        ({"members": ["responder", "responder"]}, "members"),
        ({"name": "primary"}, "name"),  # taken
        ({"name": ""}, "name"),
        ({"shift_s": 60}, "shift_s"),
        ({"shift_s": "86400"}, "shift_s"),
        ({"handoff_at": "2090-01-01T00:00:00Z"}, "handoff_at"),
        ({"handoff_at": "yesterday"}, "handoff_at"),
        ({"members": "responder"}, "members"),
    ],
)
def test_a_bad_rotation_is_a_400_naming_the_field_and_creates_nothing(api, users, primary, clock, change, field):
    body = {"name": "secondary", "handoff_at": clock.now.isoformat(), "shift_s": 86400, "members": ["admin"]}
    answer = api("commander").post(ROTATIONS, {**body, **change})
    assert answer.status_code == 400 and field in answer.json()
    assert list(OnCallRotation.objects.values_list("name", flat=True)) == ["primary"]
    assert OnCallMember.objects.count() == 2


def test_a_responder_covers_a_rotation_and_a_commander_sets_anyone_to(api, users, primary, clock):
    url = f"{ROTATIONS}{primary.pk}/overrides/"
    start, end = clock.now - timedelta(minutes=5), clock.now + timedelta(hours=2)
    window = {"starts_at": start.isoformat(), "ends_at": end.isoformat()}
    mine = api("responder").post(url, window)
    assert mine.status_code == 201
    assert mine.json() == {
        "id": OnCallOverride.objects.get().pk,
        "rotation": primary.pk,
        "user": "responder",
        "starts_at": "2026-11-02T08:55:00Z",
        "ends_at": "2026-11-02T11:00:00Z",
    }
    assert api("responder").post(url, {**window, "user": "commander"}).status_code == 403
    assert api("viewer").post(url, window).status_code == 403
    later = {
        "starts_at": (clock.now + timedelta(hours=3)).isoformat(),
        "ends_at": (clock.now + timedelta(hours=4)).isoformat(),
    }
    assert api("commander").post(url, {**later, "user": "viewer"}).json()["user"] == "viewer"
    assert OnCallOverride.objects.count() == 2
    assert [o["user"] for o in api("viewer").get(url).json()] == ["responder", "viewer"]
    assert api("viewer").get("/api/v1/oncall/").json()["rotations"][0]["user"] == "responder"
    clock.advance(hours=3, minutes=30)
    assert [o["user"] for o in api("viewer").get(url).json()] == ["viewer"]  # the ended one is gone
    assert api("viewer").get(ROTATIONS).json()[0]["oncall"] == "viewer"


@pytest.mark.parametrize(
    "change, field",
    [
        ({"ends_at": "2026-11-02T08:00:00Z"}, "ends_at"),  # before the start
        ({"ends_at": "2027-03-01T00:00:00Z"}, "ends_at"),  # longer than 90 days
        ({"user": "no-such-person"}, "user"),
        ({"starts_at": None}, "starts_at"),
        ({"starts_at": "2090-01-01T00:00:00Z", "ends_at": "2090-01-02T00:00:00Z"}, "starts_at"),
    ],
)
def test_a_bad_override_is_a_400_naming_the_field_and_adds_nothing(api, users, primary, clock, change, field):
    body = {"starts_at": "2026-11-02T09:00:00Z", "ends_at": "2026-11-02T12:00:00Z", **change}
    answer = api("commander").post(f"{ROTATIONS}{primary.pk}/overrides/", body)
    assert answer.status_code == 400 and field in answer.json()
    assert not OnCallOverride.objects.exists()


def test_overrides_of_a_rotation_that_does_not_exist_are_a_404(api, users):
    assert api("viewer").get(f"{ROTATIONS}999999/overrides/").status_code == 404
    body = {"starts_at": "2026-11-02T09:00:00Z", "ends_at": "2026-11-02T12:00:00Z"}
    assert api("commander").post(f"{ROTATIONS}999999/overrides/", body).status_code == 404

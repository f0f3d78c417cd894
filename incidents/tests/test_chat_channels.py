"""Mattermost and Microsoft Teams sit behind the channel registry, routed per severity like Slack;
Mattermost's buttons post back with a shared token."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from incidents.comms.models import Notification
from incidents.comms.services import notification_deliver
from incidents.lifecycle import services
from incidents.tests.paging_servers import FakeMattermost, FakeTeams

TOKEN = "mm-shared-token-123"


@pytest.fixture
def chat(settings):
    mm, teams = FakeMattermost(), FakeTeams()
    settings.MATTERMOST_WEBHOOK_CRITICAL = f"{mm.url}/hooks/critical1"
    settings.MATTERMOST_WEBHOOK_WARNING = f"{mm.url}/hooks/warning1"
    settings.MATTERMOST_WEBHOOK = f"{mm.url}/hooks/incidents1"
    settings.MATTERMOST_ACTION_TOKEN = TOKEN
    settings.TEAMS_WEBHOOK_CRITICAL = f"{teams.url}/workflows/critical"
    settings.TEAMS_WEBHOOK_WARNING = f"{teams.url}/workflows/warning"
    yield mm, teams
    mm.close()
    teams.close()


def deliver_all(incident) -> list[str]:
    return [notification_deliver(notification_id=n.id) for n in Notification.objects.filter(incident=incident)]


@pytest.mark.django_db
def test_declarations_reach_mattermost_and_teams_on_the_severitys_route(users, chat):
    mm, teams = chat
    p1 = services.incident_declare(severity="P1", title="Checkout errors", services=["api"], actor=users["commander"])
    p3 = services.incident_declare(severity="P3", title="Typo on the status page", actor=users["commander"])
    targets = set(Notification.objects.filter(channel__in=["mattermost", "teams"]).values_list("channel", "target"))
    assert {("mattermost", "critical"), ("mattermost", "incidents"), ("teams", "critical")} <= targets
    assert ("teams", "warning") in targets and ("mattermost", "warning") in targets
    assert set(deliver_all(p1)) == {"sent"} and set(deliver_all(p3)) == {"sent"}
    (critical,) = mm.messages("critical1")
    assert p1.public_id in critical["text"]
    assert [a["id"] for a in critical["attachments"][0]["actions"]] == ["acknowledge", "escalate", "resolve"]
    context = critical["attachments"][0]["actions"][0]["integration"]["context"]
    assert context == {"action": "acknowledge", "incident": p1.public_id, "token": TOKEN}
    cards = teams.cards()
    assert len(cards) == 2 and cards[0]["type"] == "AdaptiveCard"
    assert cards[0]["actions"][0]["type"] == "Action.OpenUrl" and cards[0]["actions"][0]["url"].endswith(
        p1.get_absolute_url()
    )
    assert p3.public_id in cards[1]["body"][0]["text"]


@pytest.mark.django_db
def test_a_teams_rejection_is_a_permanent_failure_and_a_429_is_retried(users, chat):
    _, teams = chat
    incident = services.incident_declare(severity="P1", title="Checkout errors", actor=users["commander"])
    (row,) = Notification.objects.filter(incident=incident, channel="teams")
    teams.fail_next(429, "", {"Retry-After": "0"})
    assert notification_deliver(notification_id=row.id) == "retry"
    Notification.objects.filter(id=row.id).update(next_attempt_at=row.created_at)
    assert notification_deliver(notification_id=row.id) == "sent"


@pytest.mark.django_db
def test_a_mattermost_button_acknowledges_as_the_person_with_that_username(users, chat):
    incident = services.incident_declare(severity="P1", title="Checkout errors", actor=users["commander"])

    def press(user_name: str, token: str = TOKEN, action: str = "acknowledge"):
        body = {
            "user_id": "rrw1gdthj7nt7byaei4ivu5y6e",
            "user_name": user_name,
            "channel_id": "c1",
            "team_id": "t1",
            "post_id": "p1",
            "trigger_id": "x",
            "type": "",
            "data_source": "",
            "context": {"action": action, "incident": incident.public_id, "token": token},
        }
        return Client().post("/integrations/mattermost/actions", data=json.dumps(body), content_type="application/json")

    assert press("responder", token="wrong").status_code == 401
    assert press("stranger").status_code == 403
    assert press("responder", action="resolve").status_code == 403  # a responder may not resolve
    incident.refresh_from_db()
    assert incident.status == "triggered"
    response = press("responder")
    assert response.status_code == 200 and "acknowledged by responder" in response.json()["update"]["message"]
    incident.refresh_from_db()
    assert incident.status == "acknowledged"

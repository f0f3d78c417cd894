"""The Acknowledge / Escalate / Resolve links in a page: signed per purpose, expiring, single use,
working without a session and acting as the paged person; a bad link changes nothing."""

from __future__ import annotations

import time

import pytest
from django.core import signing
from django.test import Client

from incidents.comms.links import make_token, make_url, page_links
from incidents.comms.models import UsedLink
from incidents.lifecycle import services


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]


@pytest.fixture
def p0(users):
    return services.incident_declare(severity="P0", title="Database Outage", actor=users["commander"])


@pytest.mark.django_db
def test_a_link_confirms_then_acts_once_as_the_paged_person_without_a_session(users, p0):
    url = path_of(make_url("acknowledge", incident_id=p0.id, user_id=users["responder"].pk))
    anonymous = Client()
    confirm = anonymous.get(url)
    assert confirm.status_code == 200
    html = confirm.content.decode()
    assert "Acknowledge INC-" in html and "You act as <strong>responder</strong>" in html
    p0.refresh_from_db()
    assert p0.status == "triggered"  # opening the link (or a mail scanner fetching it) changes nothing
    done = anonymous.post(url)
    assert done.status_code == 200 and "is acknowledged" in done.content.decode()
    p0.refresh_from_db()
    assert p0.status == "acknowledged"
    entry = p0.timeline.filter(kind="acknowledged").get()
    assert entry.actor == "responder"
    again = anonymous.post(url)
    assert again.status_code == 410 and "already used" in again.content.decode()
    assert anonymous.get(url).status_code == 410
    assert UsedLink.objects.count() == 1


@pytest.mark.django_db
def test_forged_expired_wrong_purpose_and_unauthorised_links_change_nothing(users, p0, settings, monkeypatch):
    anonymous = Client()
    good = make_token("resolve", incident_id=p0.id, user_id=users["commander"].pk)
    forged = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    cases = {
        f"/people/page/resolve/{forged}/": (400, "not valid"),
        f"/people/page/acknowledge/{good}/": (400, "not valid"),  # a resolve token is no acknowledge token
        f"/people/page/delete/{good}/": (400, "does not do anything"),
    }
    # A token whose user id was changed by hand does not verify either.
    tampered = signing.dumps({"i": p0.id, "u": users["admin"].pk}, salt="something-else")
    cases[f"/people/page/resolve/{tampered}/"] = (400, "not valid")
    settings.PAGE_LINK_MAX_AGE_S = 60
    real_time = time.time
    monkeypatch.setattr(signing.time, "time", lambda: real_time() - 120)
    old = make_token("resolve", incident_id=p0.id, user_id=users["commander"].pk)
    monkeypatch.setattr(signing.time, "time", real_time)
    cases[f"/people/page/resolve/{old}/"] = (400, "expired")
    viewer_link = make_token("acknowledge", incident_id=p0.id, user_id=users["viewer"].pk)
    cases[f"/people/page/acknowledge/{viewer_link}/"] = (403, "needs the responder role")
    for url, (status, text) in cases.items():
        for method in ("get", "post"):
            response = getattr(anonymous, method)(url)
            assert response.status_code == status, (url, method)
            assert text in response.content.decode()
    p0.refresh_from_db()
    assert p0.status == "triggered" and not UsedLink.objects.exists()
    assert list(p0.timeline.values_list("kind", flat=True)) == ["declared"]


@pytest.mark.django_db
def test_a_refused_action_leaves_the_link_usable_and_says_why(users, p0):
    services.incident_acknowledge(incident=p0, actor=users["responder"])
    services.incident_resolve(incident=p0, resolution="done", actor=users["commander"])
    url = path_of(make_url("escalate", incident_id=p0.id, user_id=users["commander"].pk))
    response = Client().post(url)
    assert response.status_code == 409 and "Could not escalate" in response.content.decode()
    assert not UsedLink.objects.exists()


@pytest.mark.django_db
def test_links_offered_follow_the_persons_role(users, p0):
    assert set(page_links(incident_id=p0.id, user=users["responder"])) == {"acknowledge"}
    assert set(page_links(incident_id=p0.id, user=users["commander"])) == {"acknowledge", "escalate", "resolve"}
    assert page_links(incident_id=p0.id, user=users["viewer"]) == {}

"""``/api/v1/people/``: profiles, roles, contact methods verified by a code that really arrives (a real
SMTP server), rules that then page the person. Addresses are shown to the person and to admins only;
a person edits their own, an admin anyone's; only an admin adds people or changes a role."""

from __future__ import annotations

import re

import psycopg
import pytest
from django.contrib.auth.models import User
from django.db import connection

from incidents.comms import people
from incidents.comms.models import ContactMethod, EscalationTarget, Notification, NotificationRule
from incidents.comms.services import escalation_fire_due, notification_deliver
from incidents.lifecycle import services
from incidents.lifecycle.models import EscalationLevel
from incidents.tests.paging_servers import FakeNtfy, SmtpServer, body_of
from pitchey_incidents.roles import role_of
from pitchey_incidents.testing import free_port

pytestmark = pytest.mark.django_db

PEOPLE = "/api/v1/people/"


@pytest.fixture
def smtp(settings):
    """A real SMTP server that Django's SMTP backend delivers to."""
    server = SmtpServer()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
    yield server
    server.stop()


def code_in(mail) -> str:
    code = re.search(r"\b(\d{6})\b", mail["Subject"]).group(1)
    assert code in body_of(mail)
    return code


def add_verified_email(user, address: str) -> ContactMethod:
    method = people.contact_method_send_code(people.contact_method_add(user=user, kind="email", address=address))
    return people.contact_method_verify(method, method.verification_code)


def test_a_method_added_gets_a_code_the_code_verifies_it_and_then_it_is_paged(api, users, smtp, clock):
    me = api("responder")
    added = me.post(f"{PEOPLE}responder/contact-methods/", {"kind": "email", "address": "resp@example.com"})
    assert added.status_code == 201
    method_id = added.json()["id"]
    assert added.json() == {"id": method_id, "kind": "email", "address": "resp@example.com", "verified": False}
    (mail,) = smtp.to("resp@example.com")
    code = code_in(mail)
    assert code not in added.content.decode()  # the code goes to the address, never into an answer
    wrong = "000000" if code != "000000" else "111111"
    refused = me.post(f"{PEOPLE}responder/contact-methods/{method_id}/verify/", {"code": wrong})
    assert refused.status_code == 400 and list(refused.json()) == ["code"]
    done = me.post(f"{PEOPLE}responder/contact-methods/{method_id}/verify/", {"code": code})
    assert done.status_code == 200 and done.json()["verified"] is True
    assert me.get(f"{PEOPLE}responder/").json()["contact_methods"][0]["verified"] is True

    rules = [{"urgency": "high", "after_s": 0, "method": method_id}]
    assert me.patch(f"{PEOPLE}responder/", {"rules": rules}).json()["rules"] == rules
    method = ContactMethod.objects.get(pk=method_id)
    assert people.effective_rules(users["responder"], "high") == [(method, 0)]
    EscalationTarget.objects.create(level=EscalationLevel.objects.get(level=1), user=users["responder"])
    incident = services.incident_declare(severity="P0", title="Database outage", actor=users["commander"])
    escalation_fire_due()
    (row,) = Notification.objects.filter(incident=incident, channel="person")
    assert row.target == f"method-{method_id}"
    assert notification_deliver(notification_id=row.id) == "sent"
    page = smtp.to("resp@example.com")[-1]
    assert incident.public_id in page["Subject"] and "you are paged" in page["Subject"]


def test_a_code_lasts_an_hour_and_a_new_one_can_be_sent(api, users, smtp, clock):
    me = api("commander")
    method_id = me.post(f"{PEOPLE}commander/contact-methods/", {"kind": "email", "address": "cmd@example.com"}).json()[
        "id"
    ]
    first = code_in(smtp.to("cmd@example.com")[0])
    clock.advance(hours=1, seconds=1)
    late = me.post(f"{PEOPLE}commander/contact-methods/{method_id}/verify/", {"code": first})
    assert late.status_code == 400 and "expired" in late.json()["code"][0]
    resent = me.post(f"{PEOPLE}commander/contact-methods/{method_id}/send-code/")
    assert resent.status_code == 200 and resent.json()["verified"] is False
    second = code_in(smtp.to("cmd@example.com")[1])
    done = me.post(f"{PEOPLE}commander/contact-methods/{method_id}/verify/", {"code": second})
    assert done.status_code == 200 and done.json()["verified"] is True


def test_addresses_are_shown_to_the_person_and_admins_and_hidden_from_everyone_else(api, users, clock):
    method = add_verified_email(users["responder"], "resp@example.com")
    people.rule_add(user=users["responder"], urgency="low", method=method, delay_s=120)
    User.objects.filter(pk=users["responder"].pk).update(first_name="Rosa Diaz")
    shown = {
        "username": "responder",
        "name": "Rosa Diaz",
        "role": "responder",
        "contact_methods": [{"id": method.pk, "kind": "email", "address": "resp@example.com", "verified": True}],
        "rules": [{"urgency": "low", "after_s": 120, "method": method.pk}],
    }
    hidden = {**shown, "contact_methods": [{**shown["contact_methods"][0], "address": None}]}
    for who, expected in (("responder", shown), ("admin", shown), ("viewer", hidden), ("commander", hidden)):
        listed = api(who).get(PEOPLE).json()
        assert [p["username"] for p in listed] == ["admin", "commander", "nobody", "responder", "viewer"]
        assert next(p for p in listed if p["username"] == "responder") == expected, who
        assert api(who).get(f"{PEOPLE}responder/").json() == expected, who
    assert api("nobody").get(PEOPLE).status_code == 403
    assert api(None).get(PEOPLE).status_code == 401
    assert api("viewer").get(f"{PEOPLE}no-such-person/").status_code == 404
    assert api("viewer").get(f"{PEOPLE}a%00b/").status_code == 404  # a NUL no username has


def test_an_admin_adds_a_person_and_a_commander_may_not(api, users):
    made = api("admin").post(PEOPLE, {"username": "dana", "name": "Dana Scully", "role": "responder"})
    assert made.status_code == 201
    assert made.json() == {
        "username": "dana",
        "name": "Dana Scully",
        "role": "responder",
        "contact_methods": [],
        "rules": [],
    }
    dana = User.objects.get(username="dana")
    assert role_of(dana) == "responder" and not dana.has_usable_password()
    refused = api("commander").post(PEOPLE, {"username": "eve", "role": "admin"})
    assert refused.status_code == 403 and not User.objects.filter(username="eve").exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"username": "da na", "role": "viewer"}, "username"),
        ({"username": "dana/x", "role": "viewer"}, "username"),
        ({"username": "responder", "role": "viewer"}, "username"),  # taken
        ({"username": "dana", "role": "root"}, "role"),
        ({"username": "dana"}, "role"),
        ({"username": 5, "role": "viewer"}, "username"),
        ({"username": "dana", "role": "viewer", "name": "x" * 151}, "name"),
    ],
)
def test_a_person_refused_names_the_field_and_adds_nobody(api, users, body, field):
    before = User.objects.count()
    answer = api("admin").post(PEOPLE, body)
    assert answer.status_code == 400 and field in answer.json()
    assert User.objects.count() == before


def test_a_person_edits_their_own_profile_and_an_admin_anyones(api, users):
    assert api("responder").patch(f"{PEOPLE}responder/", {"name": "Rosa"}).json()["name"] == "Rosa"
    refused = api("commander").patch(f"{PEOPLE}responder/", {"name": "Someone else"})
    assert refused.status_code == 403
    assert User.objects.get(username="responder").get_full_name() == "Rosa"
    assert api("admin").patch(f"{PEOPLE}responder/", {"name": "Rosa Diaz"}).json()["name"] == "Rosa Diaz"
    assert api("viewer").patch(f"{PEOPLE}viewer/", {}).json()["username"] == "viewer"


def test_only_an_admin_changes_a_role_and_never_their_own(api, users):
    refused = api("responder").patch(f"{PEOPLE}responder/", {"role": "admin", "name": "Boss"})
    assert refused.status_code == 403
    responder = User.objects.get(username="responder")
    assert role_of(responder) == "responder" and responder.first_name == ""  # nothing of the request applied
    assert api("admin").patch(f"{PEOPLE}responder/", {"role": "commander"}).json()["role"] == "commander"
    assert role_of(User.objects.get(username="responder")) == "commander"
    own = api("admin").patch(f"{PEOPLE}admin/", {"role": "viewer", "name": "Former admin"})
    assert own.status_code == 403  # so an admin is always left
    admin = User.objects.get(username="admin")
    assert role_of(admin) == "admin" and admin.first_name == ""
    assert api("admin").patch(f"{PEOPLE}admin/", {"role": "admin", "name": "Ada"}).json()["name"] == "Ada"  # unchanged
    api("admin").patch(f"{PEOPLE}responder/", {"role": "admin"})
    assert api("responder").patch(f"{PEOPLE}admin/", {"role": "viewer"}).json()["role"] == "viewer"
    demoted = User.objects.get(username="admin")
    assert role_of(demoted) == "viewer" and not demoted.is_superuser and not demoted.is_staff


def test_rules_are_replaced_whole_or_not_at_all(api, users, clock):
    mine = add_verified_email(users["responder"], "resp@example.com")
    theirs = add_verified_email(users["commander"], "cmd@example.com")
    people.rule_add(user=users["responder"], urgency="high", method=mine, delay_s=0)
    me = api("responder")
    for rules, why in (
        ([{"urgency": "high", "after_s": 60, "method": theirs.pk}], "another person's method"),
        ([{"urgency": "urgent", "after_s": 60, "method": mine.pk}], "no such urgency"),
        ([{"urgency": "high", "after_s": "60", "method": mine.pk}], "text for a number"),
        ([{"urgency": "high", "after_s": 86401, "method": mine.pk}], "over a day"),
    ):
        refused = me.patch(f"{PEOPLE}responder/", {"rules": rules, "name": "changed"})
        assert refused.status_code == 400 and list(refused.json()) == ["rules"], why
    assert [(r.urgency, r.delay_s) for r in NotificationRule.objects.filter(user=users["responder"])] == [("high", 0)]
    assert User.objects.get(username="responder").first_name == ""
    rules = [
        {"urgency": "high", "after_s": 0, "method": mine.pk},
        {"urgency": "high", "after_s": 300, "method": mine.pk},
    ]
    assert me.patch(f"{PEOPLE}responder/", {"rules": rules}).json()["rules"] == rules
    assert me.patch(f"{PEOPLE}responder/", {"rules": []}).json()["rules"] == []


def test_a_slack_id_an_admin_adds_counts_as_verified_and_one_added_by_the_person_gets_a_code(api, users, vendors):
    by_admin = api("admin").post(f"{PEOPLE}responder/contact-methods/", {"kind": "slack", "address": "U012AB3CD"})
    assert by_admin.status_code == 201
    assert by_admin.json() == {"id": by_admin.json()["id"], "kind": "slack", "address": "U012AB3CD", "verified": True}
    assert vendors.slack.messages() == []  # no code sent
    own = api("commander").post(f"{PEOPLE}commander/contact-methods/", {"kind": "slack", "address": "U0CMD0001"})
    assert own.status_code == 201 and own.json()["verified"] is False
    (mention,) = vendors.slack.messages()
    method = ContactMethod.objects.get(pk=own.json()["id"])
    assert mention["text"].startswith("<@U0CMD0001>") and method.verification_code in mention["text"]


def test_an_ntfy_method_keeps_its_token_to_itself(api, users, settings):
    ntfy = FakeNtfy(protected={"resp-phone": "tk_secret"})
    settings.NTFY_DEFAULT_SERVER = ntfy.url
    try:
        body = {"kind": "ntfy", "address": "resp-phone", "token": "tk_secret"}
        added = api("responder").post(f"{PEOPLE}responder/contact-methods/", body)
        assert added.status_code == 201 and added.json()["kind"] == "ntfy"
        (note,) = ntfy.messages("resp-phone")
        assert ContactMethod.objects.get(pk=added.json()["id"]).verification_code in note["title"]
        for answer in (added, api("responder").get(f"{PEOPLE}responder/"), api("admin").get(PEOPLE)):
            assert "tk_secret" not in answer.content.decode()
    finally:
        ntfy.close()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"kind": "pager", "address": "x"}, "kind"),
        ({"kind": "email", "address": "not-an-email"}, "address"),
        ({"kind": "sms", "address": "07700"}, "address"),
        ({"kind": "slack", "address": "bob"}, "address"),
        ({"kind": "webhook", "address": "ftp://example.com/hook"}, "address"),
        ({"kind": "email"}, "address"),
        ({"kind": "email", "address": ["a@example.com"]}, "address"),
    ],
)
def test_a_bad_method_is_a_400_naming_the_field_and_adds_nothing(api, users, body, field):
    answer = api("responder").post(f"{PEOPLE}responder/contact-methods/", body)
    assert answer.status_code == 400 and field in answer.json()
    assert not ContactMethod.objects.exists()


def test_a_method_the_code_cannot_reach_is_not_added(api, users, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 5  # nothing listens
    answer = api("responder").post(f"{PEOPLE}responder/contact-methods/", {"kind": "email", "address": "r@example.com"})
    assert answer.status_code == 400 and "could not be sent" in answer.json()["address"][0]
    assert not ContactMethod.objects.exists()


def test_only_the_person_or_an_admin_adds_and_verifies_their_methods(api, users, smtp, clock):
    url = f"{PEOPLE}responder/contact-methods/"
    assert api("viewer").post(url, {"kind": "email", "address": "v@example.com"}).status_code == 403
    assert not ContactMethod.objects.exists() and smtp.messages == []
    by_admin = api("admin").post(url, {"kind": "email", "address": "resp@example.com"})
    assert by_admin.status_code == 201 and by_admin.json()["verified"] is False  # email still needs the code
    code = code_in(smtp.to("resp@example.com")[0])
    verify = f"{url}{by_admin.json()['id']}/verify/"
    assert api("commander").post(verify, {"code": code}).status_code == 403
    assert not ContactMethod.objects.get().pageable
    assert (
        api("admin")
        .post(f"{PEOPLE}commander/contact-methods/{by_admin.json()['id']}/verify/", {"code": code})
        .status_code
        == 404
    )
    assert api("responder").post(verify, {"code": code}).json()["verified"] is True
    assert (
        api("admin").post(f"{PEOPLE}nobody-here/contact-methods/", {"kind": "slack", "address": "U1"}).status_code
        == 404
    )


def test_a_code_that_is_not_ascii_is_just_wrong(api, users, smtp, clock):
    method_id = (
        api("responder")
        .post(f"{PEOPLE}responder/contact-methods/", {"kind": "email", "address": "resp@example.com"})
        .json()["id"]
    )
    answer = api("responder").post(f"{PEOPLE}responder/contact-methods/{method_id}/verify/", {"code": "１２３４５６"})
    assert answer.status_code == 400 and list(answer.json()) == ["code"]
    assert not ContactMethod.objects.get(pk=method_id).pageable


def test_listing_people_costs_the_same_few_queries_for_many(api, users, django_assert_max_num_queries, clock):
    for n in range(12):
        person = User.objects.create_user(f"person{n}")
        add_verified_email(person, f"p{n}@example.com")
    client = api("admin")
    with django_assert_max_num_queries(8):
        assert len(client.get(PEOPLE).json()) == 17


def test_the_profile_page_adds_methods_the_same_way(page, users, vendors, settings):
    added = page("admin").post("/people/responder/", {"do": "add-method", "kind": "slack", "address": "U012AB3CD"})
    assert added.status_code == 302 and added["Location"].endswith("?done=verified")
    assert ContactMethod.objects.get(user=users["responder"]).pageable and vendors.slack.messages() == []
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 5  # nothing listens
    refused = page("responder").post("/people/me/", {"do": "add-method", "kind": "email", "address": "r@example.com"})
    assert refused.status_code == 400 and "could not be sent" in refused.content.decode()
    assert list(ContactMethod.objects.values_list("kind", flat=True)) == ["slack"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_code_goes_out_with_no_transaction_open(api, users, smtp, monkeypatch, clock):
    """A mail server may take its whole timeout to answer. Meanwhile the request's session has no
    transaction open (the server says so), and another session writes the method's row, which a
    transaction left open around the send would keep locked."""
    table = ContactMethod._meta.db_table
    db = connection.settings_dict  # this test's own database
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        request_pid = cursor.fetchone()[0]  # the API client runs in this thread, on this connection
    seen = []
    real = people.SENDERS["email"]

    def sender(method, msg, ref):
        params = {"host": db["HOST"], "port": db["PORT"] or 5432, "user": db["USER"], "password": db["PASSWORD"]}
        with psycopg.connect(**params, dbname=db["NAME"], autocommit=True) as other:
            other.execute("SET lock_timeout = '2s'")  # a lock held by the sender fails this, not hangs it
            state = other.execute("SELECT state FROM pg_stat_activity WHERE pid = %s", [request_pid]).fetchone()[0]
            rows = other.execute(f"UPDATE {table} SET failure = failure WHERE address = %s", [method.address])
            seen.append((state, rows.rowcount))
        return real(method, msg, ref)

    monkeypatch.setitem(people.SENDERS, "email", sender)
    added = api("responder").post(f"{PEOPLE}responder/contact-methods/", {"kind": "email", "address": "r@example.com"})
    assert added.status_code == 201 and seen == [("idle", 0)]  # not saved before its code went out
    method = ContactMethod.objects.get(pk=added.json()["id"])
    assert method.verification_code == code_in(smtp.to("r@example.com")[0])

    again = api("responder").post(f"{PEOPLE}responder/contact-methods/{method.pk}/send-code/")
    assert again.status_code == 200 and seen[1] == ("idle", 1)  # the row was written meanwhile, not locked
    method.refresh_from_db()
    assert method.verification_code == code_in(smtp.to("r@example.com")[1])
    verify = f"{PEOPLE}responder/contact-methods/{method.pk}/verify/"
    assert api("responder").post(verify, {"code": method.verification_code}).json()["verified"] is True


def test_a_new_code_that_cannot_be_sent_leaves_the_old_one_good(api, users, smtp, settings, clock):
    added = api("responder").post(f"{PEOPLE}responder/contact-methods/", {"kind": "email", "address": "r@example.com"})
    first = code_in(smtp.to("r@example.com")[0])
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 5  # nothing listens
    method_url = f"{PEOPLE}responder/contact-methods/{added.json()['id']}/"
    refused = api("responder").post(method_url + "send-code/")
    assert refused.status_code == 400 and "could not be sent" in refused.json()["address"][0]
    assert ContactMethod.objects.get().verification_code == first
    assert api("responder").post(method_url + "verify/", {"code": first}).json()["verified"] is True

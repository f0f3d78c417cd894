"""Paging people: contact methods verified by a code, personal rules per urgency, pages as outbox
rows that stop the moment anyone acknowledges, and a level that pages nobody said loudly. Against
a real SMTP server (aiosmtpd), a local ntfy and a Twilio-shaped SMS gateway, and a real worker."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from io import StringIO
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from incidents.comms import people
from incidents.comms import tasks as comms_tasks
from incidents.comms.checks import escalation_levels_reach_someone
from incidents.comms.models import (
    ContactMethod,
    EscalationTarget,
    Notification,
    OnCallMember,
    OnCallRotation,
)
from incidents.comms.services import escalation_fire_due, notification_deliver
from incidents.lifecycle import services
from incidents.lifecycle.models import EscalationLevel
from incidents.tests.paging_servers import FakeNtfy, FakeTwilio, SmtpServer, body_of
from pitchey_incidents.celery import app
from pitchey_incidents.errors import DomainError
from pitchey_incidents.testing import wait_for, wait_for_task_runs


@pytest.fixture
def paging(settings):
    smtp, ntfy, twilio = (
        SmtpServer(),
        FakeNtfy(protected={"ops-secret": "tk_123", "locked": "tk_other"}),
        FakeTwilio(invalid={"+15005550001"}),
    )
    env = {
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp.port}",
        "SMS_GATEWAY_URL": twilio.url,
        "SMS_ACCOUNT_SID": twilio.sid,
        "SMS_AUTH_TOKEN": twilio.token,
        "SMS_FROM": "+15005550006",
        "NTFY_DEFAULT_SERVER": ntfy.url,
    }
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp.port
    for name in ("SMS_GATEWAY_URL", "SMS_ACCOUNT_SID", "SMS_AUTH_TOKEN", "SMS_FROM", "NTFY_DEFAULT_SERVER"):
        setattr(settings, name, env[name])
    settings.NOTIFICATION_RETRY_BASE_S = 0.2
    worker_env = {**env, "NOTIFICATION_LEASE_S": "3", "NOTIFICATION_RETRY_BASE_S": "0.2", "HTTP_TIMEOUT_S": "5"}
    yield SimpleNamespace(smtp=smtp, ntfy=ntfy, twilio=twilio, env=worker_env)
    smtp.stop()
    ntfy.close()
    twilio.close()


def verified(user, kind, address, **kw) -> ContactMethod:
    method = people.contact_method_add(user=user, kind=kind, address=address, **kw)
    method = people.contact_method_send_code(method)
    return people.contact_method_verify(method, method.verification_code)


def primary_rotation(user) -> OnCallRotation:
    rotation = OnCallRotation.objects.create(
        name="primary", handoff_at=timezone.now() - timedelta(hours=1), shift_s=86400
    )
    OnCallMember.objects.create(rotation=rotation, user=user, position=0)
    EscalationTarget.objects.create(level=EscalationLevel.objects.get(level=1), rotation=rotation)
    return rotation


@pytest.mark.django_db
def test_each_method_is_verified_by_a_code_it_received_before_it_is_paged(users, paging):
    person = users["responder"]
    email = people.contact_method_add(user=person, kind="email", address="resp@example.com")
    people.contact_method_send_code(email)
    (mail,) = paging.smtp.to("resp@example.com")
    code = re.search(r"\b(\d{6})\b", mail["Subject"]).group(1)
    assert code in body_of(mail)
    assert people.effective_rules(person, "high") == []  # not verified: not paged
    with pytest.raises(DomainError):
        people.contact_method_verify(email, "000000" if code != "000000" else "111111")
    people.contact_method_verify(email, code)

    push = people.contact_method_add(user=person, kind="push", address="ops-secret", token="tk_123")
    people.contact_method_send_code(push)
    (note,) = paging.ntfy.messages("ops-secret")
    assert push.verification_code not in ("",) and push.verification_code in note["title"]
    sms = people.contact_method_add(user=person, kind="sms", address="+44 7700 900123")
    assert sms.address == "+447700900123"
    people.contact_method_send_code(sms)
    (text,) = paging.twilio.sms()
    assert text["To"] == "+447700900123" and text["From"] == "+15005550006"
    bad = people.contact_method_add(user=person, kind="push", address="locked", server=paging.ntfy.url + "/")
    with pytest.raises(DomainError, match="HTTP 401"):  # protected topic, no token
        people.contact_method_send_code(bad)
    for kind, address in (("email", "not-an-email"), ("sms", "07700"), ("slack", "bob"), ("webhook", "ftp://x")):
        with pytest.raises(DomainError):
            people.contact_method_add(user=person, kind=kind, address=address)
    # Defaults for a new person: push and email, at once, verified ones only.
    push.refresh_from_db()
    people.contact_method_verify(push, push.verification_code)
    pairs = people.effective_rules(person, "high")
    assert sorted((m.kind, d) for m, d in pairs) == [("email", 0), ("push", 0)]


@pytest.mark.django_db
def test_a_level_that_resolves_to_nobody_is_loud_everywhere(users, page, client):
    incident = services.incident_declare(severity="P0", title="Database Outage", actor=users["commander"])
    services.incident_escalate(incident=incident, actor=users["commander"])
    (entry,) = incident.timeline.filter(kind="paged")
    assert entry.message.startswith("Nobody was paged at level 1")
    assert entry.data["unroutable"] and entry.data["failure"]
    detail = page("viewer").get(incident.get_absolute_url()).content.decode()
    assert "Nobody was paged at level 1" in detail and "data-unroutable" in detail and "tl-failure" in detail
    dashboard = page("viewer").get("/").content.decode()
    assert "Nobody was paged at level 1" in dashboard and incident.public_id in dashboard
    metrics = page("viewer").get("/metrics").content.decode()
    assert "pitchey_pages_unroutable_total 1.0" in metrics or "pitchey_pages_unroutable_total 1" in metrics
    warnings = escalation_levels_reach_someone()
    assert [w.id for w in warnings] == ["incidents.W001"] * EscalationLevel.objects.count()
    primary_rotation(users["responder"])
    assert "level 1 " not in " ".join(w.msg for w in escalation_levels_reach_someone())
    services.incident_acknowledge(incident=incident, actor=users["responder"])
    services.incident_resolve(incident=incident, resolution="fixed", actor=users["commander"])
    assert "Nobody was paged" not in page("viewer").get("/").content.decode()  # closed incidents stop shouting


def test_bootstrap_prints_a_warning_while_a_level_is_empty(db, capsys):
    err = StringIO()
    call_command("check", stderr=err, stdout=StringIO())
    assert "Escalation level 1 (Primary on-call) pages nobody" in err.getvalue()


@pytest.mark.django_db
def test_rules_page_through_the_outbox_and_ack_cancels_what_has_not_left(users, paging):
    person = users["responder"]
    push = verified(person, "push", "resp-phone")
    sms = verified(person, "sms", "+447700900123")
    people.rule_add(user=person, urgency="high", method=push, delay_s=0)
    people.rule_add(user=person, urgency="high", method=sms, delay_s=300)
    primary_rotation(person)
    incident = services.incident_declare(severity="P0", title="Database Outage", actor=users["commander"])
    escalation_fire_due()
    rows = list(Notification.objects.filter(incident=incident, channel="person").order_by("next_attempt_at"))
    assert [(r.target, r.context["delay_s"]) for r in rows] == [(f"method-{push.pk}", 0), (f"method-{sms.pk}", 300)]
    assert rows[0].context["links"].keys() == {"acknowledge"}  # a responder may acknowledge, not resolve
    assert notification_deliver(notification_id=rows[0].id) == "sent"
    note = paging.ntfy.messages("resp-phone")[-1]
    assert note["priority"] == 5 and note["actions"][0]["label"] == "Acknowledge"
    assert note["click"] == rows[0].context["links"]["acknowledge"]
    services.incident_acknowledge(incident=incident, actor=person)
    rows[1].refresh_from_db()
    assert rows[1].status == "cancelled"
    Notification.objects.filter(id=rows[1].id).update(status="pending", next_attempt_at=timezone.now())
    assert notification_deliver(notification_id=rows[1].id) == "cancelled"  # the ack committed first
    assert len(paging.twilio.sms()) == 1  # the verification code only


@pytest.mark.django_db
def test_an_invalid_number_stops_that_method_shows_it_and_moves_on_to_the_next_rule(users, paging, page):
    person = users["responder"]
    sms = verified(person, "sms", "+447700900123")
    email = verified(person, "email", "resp@example.com")
    ContactMethod.objects.filter(pk=sms.pk).update(address="+15005550001")  # the number went bad since
    people.rule_add(user=person, urgency="high", method=sms, delay_s=0)
    people.rule_add(user=person, urgency="high", method=email, delay_s=600)
    incident = services.incident_declare(severity="P1", title="Checkout errors", actor=users["commander"])
    EscalationTarget.objects.create(level=EscalationLevel.objects.get(level=1), user=person)
    escalation_fire_due()
    first, second = Notification.objects.filter(incident=incident, channel="person").order_by("next_attempt_at")
    assert notification_deliver(notification_id=first.id) == "failed"
    sms.refresh_from_db()
    assert sms.failed_at and "not a valid phone number" in sms.failure
    second.refresh_from_db()
    assert second.next_attempt_at <= timezone.now()  # moved forward
    assert notification_deliver(notification_id=second.id) == "sent"
    mails = paging.smtp.to("resp@example.com")
    assert "you are paged" in mails[-1]["Subject"] and incident.public_id in mails[-1]["Subject"]
    profile = page("responder").get("/people/me/").content.decode()
    assert 'data-state="failed"' in profile and "not a valid phone number" in profile
    assert "Page to responder by SMS (level 1) failed permanently" in " ".join(
        incident.timeline.values_list("message", flat=True)
    )


@pytest.mark.django_db
def test_a_rate_limited_gateway_is_retried_with_backoff(users, paging):
    person = users["responder"]
    sms = verified(person, "sms", "+447700900123")
    people.rule_add(user=person, urgency="high", method=sms, delay_s=0)
    EscalationTarget.objects.create(level=EscalationLevel.objects.get(level=1), user=person)
    incident = services.incident_declare(severity="P0", title="Outage", actor=users["commander"])
    escalation_fire_due()
    (row,) = Notification.objects.filter(incident=incident, channel="person")
    paging.twilio.fail_next(429, '{"code": 20429, "message": "Too Many Requests", "status": 429}', {"Retry-After": "1"})
    before = timezone.now()
    assert notification_deliver(notification_id=row.id) == "retry"
    row.refresh_from_db()
    assert row.status == "pending" and row.last_status_code == 429
    assert row.next_attempt_at >= before + timedelta(seconds=0.9)  # Retry-After is a floor
    Notification.objects.filter(id=row.id).update(next_attempt_at=timezone.now())
    assert notification_deliver(notification_id=row.id) == "sent"
    assert len(paging.twilio.sms()) == 3  # code, the 429, the page
    assert ContactMethod.objects.get(pk=sms.pk).failed_at is None


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clean_broker")
def test_a_p0_pushes_and_emails_the_on_call_person_and_the_email_link_stops_every_further_page(worker, users, paging):
    person = users["responder"]
    push = verified(person, "push", "resp-phone")
    email = verified(person, "email", "resp@example.com")
    sms = verified(person, "sms", "+447700900123")
    for method, delay in ((push, 0), (email, 0), (sms, 120)):  # the SMS so late that the ack comes first
        people.rule_add(user=person, urgency="high", method=method, delay_s=delay)
    primary_rotation(person)
    proc = worker(beat=True, **paging.env, ESCALATION_TICK_S="0.3", NOTIFICATION_SWEEP_S="1")
    incident = services.incident_declare(severity="P0", title="Database Outage", actor=users["commander"])
    wait_for(lambda: len(paging.ntfy.messages("resp-phone")) == 2, timeout=30, message="the push")
    wait_for(lambda: len(paging.smtp.to("resp@example.com")) == 2, timeout=30, message="the email")
    sms_page = Notification.objects.get(incident=incident, target=f"method-{sms.pk}")
    wait_for(lambda: held_delivery(sms_page.id), timeout=10, message="the SMS page held by the worker for its time")
    mail = paging.smtp.to("resp@example.com")[-1]
    assert incident.public_id in mail["Subject"] and "you are paged" in mail["Subject"]
    link = re.search(r"Acknowledge: (\S+)", body_of(mail)).group(1)
    response = Client().post("/" + link.split("/", 3)[3])  # no session: the link is the credential
    assert response.status_code == 200
    incident.refresh_from_db()
    assert incident.status == "acknowledged" and incident.timeline.filter(kind="acknowledged", actor="responder")
    rows = Notification.objects.filter(incident=incident, channel="person")
    assert sorted(rows.values_list("status", flat=True)) == ["cancelled", "sent", "sent"]
    assert rows.get(status="cancelled") == sms_page
    # The SMS page's time comes: the worker runs the delivery it holds, now rather than in two minutes.
    rows.filter(id=sms_page.id).update(next_attempt_at=timezone.now())
    delivery = comms_tasks.notification_deliver.apply_async(args=[sms_page.id])
    wait_for(lambda: f"[{delivery.id}] succeeded" in proc.log(), timeout=20, message="the SMS page's delivery")
    assert len(paging.twilio.sms()) == 1  # the verification code only: no page after the ack


def held_delivery(notification_id: int) -> str | None:
    """The id of the delivery of this outbox row that a worker holds until its countdown ends, if any."""
    for entries in (app.control.inspect(timeout=2, limit=1).scheduled() or {}).values():
        for entry in entries:
            request = entry["request"]
            if request["name"] == "incidents.tasks.notification_deliver" and list(request["args"]) == [notification_id]:
                return request["id"]
    return None


def paged_by_push_and_email(users):
    """A P0 paging the on-call responder by push and by email at once: the incident and the two rows."""
    person = users["responder"]
    push = verified(person, "push", "resp-phone")
    email = verified(person, "email", "resp@example.com")
    people.rule_add(user=person, urgency="high", method=push, delay_s=0)
    people.rule_add(user=person, urgency="high", method=email, delay_s=0)
    primary_rotation(person)
    incident = services.incident_declare(severity="P0", title="Database Outage", actor=users["commander"])
    escalation_fire_due()
    push_row = Notification.objects.get(incident=incident, target=f"method-{push.pk}")
    email_row = Notification.objects.get(incident=incident, target=f"method-{email.pk}")
    return incident, push_row, email_row


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_acknowledgement_waits_for_a_page_already_on_the_wire_and_cancels_the_rest(users, paging):
    """Ack and page racing: the page being sent holds a share lock on the incident until the
    request returns, so the ack commits after it; everything not yet sent is cancelled."""
    person = users["responder"]
    incident, push_row, email_row = paged_by_push_and_email(users)
    paging.ntfy.hold_next()
    outcome: dict[str, object] = {}

    def run(name, fn):
        try:
            outcome[name] = fn()
        finally:
            connection.close()

    sender = threading.Thread(target=run, args=("send", lambda: notification_deliver(notification_id=push_row.id)))
    sender.start()
    assert paging.ntfy.held.wait(10), "the push request reached ntfy"
    acker = threading.Thread(
        target=run, args=("ack", lambda: services.incident_acknowledge(incident=incident.id, actor=person))
    )
    acker.start()
    acker.join(timeout=1.0)
    assert acker.is_alive(), "the acknowledgement waits for the page on the wire"
    paging.ntfy.release.set()
    sender.join(10)
    acker.join(10)
    assert outcome["send"] == "sent" and outcome["ack"].status == "acknowledged"
    email_row.refresh_from_db()
    assert email_row.status == "cancelled"
    assert notification_deliver(notification_id=email_row.id) == "done"
    assert len(paging.smtp.to("resp@example.com")) == 1  # the verification code only


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clean_broker")
def test_unacknowledged_it_climbs_the_levels_on_beat_reaching_each_person_through_their_rules(worker, users, paging):
    """Levels of seconds instead of minutes: level 1 pages the responder by push, level 2 (after
    2 s) the commander by email; once acknowledged, level 3 pages nobody (due after 120 s, so late that the
    acknowledgement comes first on a busy machine, then made due at once)."""
    for level, delay in ((1, 0), (2, 2), (3, 120), (4, 180)):
        EscalationLevel.objects.filter(level=level).update(delay_s=delay)
    verified(users["responder"], "push", "resp-phone")
    verified(users["commander"], "email", "cmd@example.com")
    verified(users["admin"], "push", "admin-phone")
    primary_rotation(users["responder"])
    EscalationTarget.objects.create(level=EscalationLevel.objects.get(level=2), user=users["commander"])
    EscalationTarget.objects.create(level=EscalationLevel.objects.get(level=3), user=users["admin"])
    proc = worker(beat=True, **paging.env, ESCALATION_TICK_S="0.3", NOTIFICATION_SWEEP_S="1")
    incident = services.incident_declare(severity="P0", title="Database Outage", actor=users["commander"])
    wait_for(lambda: len(paging.ntfy.messages("resp-phone")) == 2, timeout=30, message="level 1's push")
    wait_for(lambda: len(paging.smtp.to("cmd@example.com")) == 2, timeout=30, message="level 2's email")
    assert "(level 2, Secondary on-call)" in paging.smtp.to("cmd@example.com")[-1]["Subject"]
    services.incident_acknowledge(incident=incident, actor=users["commander"])
    level3 = incident.escalation_timers.get(level=3)
    assert level3.cancelled_at and not level3.fired_at
    incident.escalation_timers.filter(level=3).update(due_at=timezone.now() - timedelta(seconds=1))  # its time
    wait_for_task_runs(proc, "incidents.tasks.escalation_fire_due")  # two beat ticks that saw it due
    assert not incident.escalation_timers.get(level=3).fired_at
    assert len(paging.ntfy.messages("admin-phone")) == 1  # the verification code only

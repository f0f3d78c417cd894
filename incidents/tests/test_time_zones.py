"""The reader's own time zone (a per-user setting, UTC unless chosen) beyond pages: the CLI writes the
acting user's, a Markdown report the downloader's (with a token too), a handoff message the person's.
Every moment carries its zone's name, so a reader always knows which zone it is."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from zoneinfo import ZoneInfo

from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from incidents.comms.channels.person import Person
from incidents.comms.models import ContactKind, ContactMethod, Notification
from incidents.lifecycle import services
from incidents.tests.test_postmortem import resolved_incident
from pitchey_incidents.models import UserPreference
from pitchey_incidents.timefmt import format_timestamp

TOKYO, NEW_YORK = "Asia/Tokyo", "America/New_York"


def _prefer(user, zone: str) -> None:
    UserPreference.objects.update_or_create(user=user, defaults={"time_zone": zone})


def _in(zone: str, moment, **kwargs) -> str:
    with timezone.override(ZoneInfo(zone)):
        return format_timestamp(moment, **kwargs)


def test_the_cli_writes_moments_in_the_acting_users_zone(users, clock, monkeypatch):
    incident = services.incident_declare(severity="P2", title="Zones", actor=users["commander"])
    _prefer(users["commander"], TOKYO)

    def listed(actor: str) -> str:
        monkeypatch.setenv("PITCHEY_ACTOR", actor)
        out = StringIO()
        call_command("incident", "list", stdout=out)
        return out.getvalue()

    mine = listed("commander")
    assert _in(TOKYO, incident.declared_at) in mine and "JST" in mine and "UTC" not in mine
    theirs = listed("viewer")  # a user who chose no zone: UTC
    assert _in("UTC", incident.declared_at) in theirs and "JST" not in theirs
    unknown = listed("someone-without-an-account")
    assert _in("UTC", incident.declared_at) in unknown


def test_a_markdown_report_is_in_the_downloaders_zone_with_a_token_too(users, clock, api):
    incident = resolved_incident(users, clock)
    _prefer(users["viewer"], NEW_YORK)
    text = api("viewer").get(f"/api/v1/incidents/{incident.public_id}/postmortem.md").content.decode()
    declared = _in(NEW_YORK, incident.declared_at, seconds=True)
    assert f"- Declared: {declared}" in text
    # Sections drafted at resolution are stored text (site zone); what is generated here follows the reader.
    timeline = text.split("## Timeline", 1)[1].split("##", 1)[0]
    assert timeline.strip() and all(("EST" in line or "EDT" in line) for line in timeline.strip().splitlines())

    other = api("responder").get(f"/api/v1/incidents/{incident.public_id}/postmortem.md").content.decode()
    assert f"- Declared: {_in('UTC', incident.declared_at, seconds=True)}" in other


def test_a_handoff_message_is_in_the_persons_own_zone(users, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    person = users["responder"]
    _prefer(person, TOKYO)
    method = ContactMethod.objects.create(
        user=person, kind=ContactKind.EMAIL, address="responder@example.com", verified_at=timezone.now()
    )
    until = timezone.now().replace(microsecond=0) + timedelta(days=7)
    context = {"rotation": "primary", "until": until.isoformat(), "method": method.id, "url": "http://x/oncall/"}
    target = f"method-{method.id}"
    notification = Notification.objects.create(channel="person", kind="handoff", target=target, context=context)
    Person().send(notification)
    [sent] = mail.outbox
    assert f"You are on call for primary until {_in(TOKYO, until)}." in sent.body and "JST" in sent.body

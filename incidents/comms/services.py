"""The notification outbox, the communication matrix and escalation (docs/communications.md).

What an incident's changes set off here is in ``subscribers.py``.

Rows are the truth. A change writes its ``Notification`` rows in the incident's transaction; after
commit a task delivers each, claiming it with a conditional update. A beat sweeper re-dispatches rows
whose message or worker was lost. Escalation timers are rows too, fired by a beat task.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from incidents.comms import people, tasks
from incidents.comms.channels import REGISTRY, Channel, enabled_channels, get_channel
from incidents.comms.channels.person import PageNotNeeded
from incidents.comms.links import page_links
from incidents.comms.models import (
    AUDIENCE_CHANNEL,
    BY_HAND,
    FINISHED_NOTIFICATION_STATUSES,
    Audience,
    CommunicationDue,
    ContactMethod,
    EscalationTimer,
    Notification,
    NotificationStatus,
    Requirement,
)
from incidents.comms.oncall import level_targets
from incidents.lifecycle.models import OPEN_STATUSES, EscalationLevel, Incident, SeverityPolicy
from incidents.lifecycle.services import incident_escalation_due, incident_note, timeline_record
from pitchey_incidents import events, jobs
from pitchey_incidents.actors import actor_name
from pitchey_incidents.errors import DomainError
from pitchey_incidents.http import TransportError
from pitchey_incidents.timefmt import format_duration, format_timestamp

N = NotificationStatus
# Which audience of the communication matrix a delivery on a channel satisfies.
CHANNEL_AUDIENCE = {"slack": Audience.INTERNAL, "statuspage": Audience.STATUS_PAGE, "email": Audience.CUSTOMER_EMAIL}
NEXT_UPDATE_MINUTES = {"P0": 30, "P1": 30, "P2": 60, "P3": 240}


# --- context ----------------------------------------------------------------------------------------


def _site() -> str:
    return urlsplit(settings.SITE_URL).netloc or "pitchey-incidents"


def _duration(incident: Incident) -> str:
    end = incident.resolved_at or timezone.now()
    return format_duration(max(0.0, (end - incident.declared_at).total_seconds()))


def incident_context(incident: Incident) -> dict[str, Any]:
    """A snapshot of the incident for message templates: what the message says is what was true."""
    services = list(incident.services.all())
    names = [s.name for s in services]
    base = settings.SITE_URL.rstrip("/")
    return {
        "id": incident.public_id,
        "severity": incident.severity,
        "title": incident.title,
        "impact": incident.description[:500],
        "status": incident.status,
        "status_display": incident.get_status_display(),
        "public_status": incident.public_status,
        "public_status_display": incident.get_public_status_display(),
        "commander": incident.commander.get_username() if incident.commander_id else None,
        "services": names,
        "service_slugs": [s.slug for s in services],
        "component_ids": [s.statuspage_component_id for s in services if s.statuspage_component_id],
        "url": base + incident.get_absolute_url(),
        "status_url": base + "/status/",
        "declared_at": incident.declared_at.isoformat(),
        "at": timezone.now().isoformat(),
        "site": _site(),
        "channel": f"#incident-{incident.public_id.lower()}",
        "public_issue": f"an issue affecting {', '.join(names)}" if names else "a service disruption",
        "next_update_minutes": NEXT_UPDATE_MINUTES.get(incident.severity, 30),
        "duration": _duration(incident),
    }


def _json_safe(data: dict) -> dict:
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


# --- the outbox -------------------------------------------------------------------------------------


def notification_enqueue(
    *,
    incident: Incident | None,
    channel: str,
    kind: str,
    context: dict[str, Any] | None = None,
    target: str | None = None,
    audience: str = "",
) -> list[Notification]:
    """Queue a message on a channel (one row per channel target); delivered after commit.

    ``kind`` picks the template (``incidents/comms/notifications/<kind>.txt``, else ``message.txt`` which prints
    ``context["message"]``). Returns no rows when the channel is not configured.
    """
    impl = get_channel(channel)
    if not isinstance(kind, str) or not kind or len(kind) > 40:
        raise DomainError("must be a name of at most 40 characters", field="kind")
    if context is not None and not isinstance(context, dict):
        raise DomainError("must be an object", field="context")
    if not impl.enabled():
        return []
    targets = [target] if target is not None else impl.targets(kind, incident)
    ctx = incident_context(incident) if incident is not None else {"site": _site(), "at": timezone.now()}
    ctx = _json_safe({**ctx, **(context or {})})
    rows = []
    with transaction.atomic():
        for name in targets:
            row = Notification.objects.create(
                incident=incident, channel=channel, target=name, kind=kind, audience=audience, context=ctx
            )
            jobs.dispatch(tasks.notification_deliver, row.id)
            rows.append(row)
    return rows


def notification_deliver(*, notification_id: int) -> str:
    """Deliver one outbox row at most once per claim. Returns what happened (for logs and tests).

    1. Claim: ``pending`` and due, or ``sending`` with an expired lease (its worker died), by a
       conditional update on the values just read; lose the race → do nothing.
    2. A lost attempt that was on the wire to a channel that cannot de-duplicate is not re-sent:
       it is reconciled with the vendor where possible, else marked ``unconfirmed``.
    3. Messages of one stream (incident, channel, target) go out in order.
    4. Commit ``in_flight`` and send; record sent, a retry (backoff with jitter, ``Retry-After``
       as a floor) or a permanent failure (on the timeline).
    """
    now = timezone.now()
    row = Notification.objects.filter(id=notification_id).first()
    if row is None or row.status in FINISHED_NOTIFICATION_STATUSES:
        return "done"
    impl = REGISTRY.get(row.channel)
    attempt = row.attempts + 1
    refused = _claim(row, impl, attempt, now)
    if refused:
        return refused
    row.refresh_from_db()
    if impl is None or not impl.enabled():
        return _attempt_failed(row, TransportError(f"channel {row.channel} is not configured", permanent=True))
    earlier = (
        Notification.objects.filter(incident_id=row.incident_id, channel=row.channel, target=row.target, id__lt=row.id)
        .exclude(status__in=FINISHED_NOTIFICATION_STATUSES)
        .order_by("id")
        .first()
    )
    if earlier is not None:
        return _wait_for(row, earlier, now)
    return _send(row, impl, attempt)


def _claim(row: Notification, impl: Channel | None, attempt: int, now: datetime) -> str | None:
    """Steps 1 and 2: claim the row for ``attempt``; None once claimed, else why not."""
    if row.status == N.SENDING:
        if row.lease_until and row.lease_until > now:
            return "busy"
        if row.in_flight and impl is not None and not impl.idempotent:
            outcome = _recover_lost(row, impl)
            if outcome:
                return outcome
        claim = Q(status=N.SENDING, lease_until=row.lease_until)
    else:
        if row.next_attempt_at > now + timedelta(seconds=1):
            return "early"
        claim = Q(status=N.PENDING)
    lease = now + timedelta(seconds=settings.NOTIFICATION_LEASE_S)
    if not Notification.objects.filter(claim, id=row.id, attempts=row.attempts).update(
        status=N.SENDING, attempts=attempt, lease_until=lease, in_flight=False
    ):
        return "taken"
    return None


def _send(row: Notification, impl: Channel, attempt: int) -> str:
    """Step 4: mark the attempt on the wire, send, and record what came of it."""
    Notification.objects.filter(id=row.id, attempts=attempt, status=N.SENDING).update(in_flight=True)
    try:
        response = impl.send(row)
    except PageNotNeeded as exc:
        return _cancelled(row, str(exc))
    except TransportError as exc:
        return _attempt_failed(row, exc)
    except Exception as exc:  # a bug or an odd answer: retried, and visible in last_error
        return _attempt_failed(row, TransportError(f"{exc.__class__.__name__}: {exc}"[:300]))
    return _delivered(row, response)


def _cancelled(row: Notification, why: str) -> str:
    if not _mine(row).update(status=N.CANCELLED, in_flight=False, lease_until=None, last_error=why[:1000]):
        return "taken"
    return "cancelled"


def _mine(row: Notification) -> QuerySet[Notification]:
    return Notification.objects.filter(id=row.id, attempts=row.attempts, status=N.SENDING)


def _wait_for(row: Notification, earlier: Notification, now: datetime) -> str:
    """Hand the claim back, uncounted, until the earlier message of this stream is finished."""
    ready = earlier.lease_until if earlier.status == N.SENDING and earlier.lease_until else earlier.next_attempt_at
    at = max(ready, now) + timedelta(seconds=0.5)
    _mine(row).update(status=N.PENDING, attempts=row.attempts - 1, lease_until=None, next_attempt_at=at)
    jobs.send(tasks.notification_deliver, row.id, countdown=(at - now).total_seconds())
    return "waiting"


def _delivered(row: Notification, response: dict | None, *, note: str = "") -> str:
    return "sent" if _settle_sent(_mine(row), row, response, note) else "taken"


def _settle_sent(claim: QuerySet[Notification], row: Notification, response: dict | None, note: str) -> bool:
    """Mark the claimed row sent, and the communication it satisfies; False if the claim was lost."""
    now = timezone.now()
    with transaction.atomic():
        sent = {"sent_at": now, "in_flight": False, "lease_until": None, "response": response or {}}
        # An earlier failed attempt's error is history once the message is out (the timeline keeps it).
        if not claim.update(status=N.SENT, last_error="", last_status_code=None, **sent):
            return False
        if row.audience and row.incident_id:
            communication_mark_sent(row.incident_id, row.audience, row.label, at=now)
        _note(row, "notification_sent", f"{_describe(row)} sent{note}")
    return True


def _attempt_failed(row: Notification, exc: TransportError) -> str:
    now = timezone.now()
    final = exc.permanent or row.attempts >= settings.NOTIFICATION_MAX_ATTEMPTS
    fields = {"in_flight": False, "lease_until": None, "last_error": exc.message[:1000], "last_status_code": exc.status}
    if final:
        with transaction.atomic():
            if not _mine(row).update(status=N.FAILED, **fields):
                return "taken"
            why = "permanently" if exc.permanent else f"after {row.attempts} attempts"
            _note(row, "notification_failed", f"{_describe(row)} failed {why}: {exc.message[:300]}")
            impl = REGISTRY.get(row.channel)
            if impl is not None:
                impl.failed(row, exc)
            if row.channel == "person":
                _page_next_now(row)
        return "failed"
    delay = jobs.backoff_delay(row.attempts - 1, base=settings.NOTIFICATION_RETRY_BASE_S, retry_after=exc.retry_after)
    if not _mine(row).update(status=N.PENDING, next_attempt_at=now + timedelta(seconds=delay), **fields):
        return "taken"
    jobs.send(tasks.notification_deliver, row.id, countdown=delay)
    return "retry"


def _recover_lost(row: Notification, impl: Channel) -> str | None:
    """The worker died with the request on the wire. Ask the vendor, or refuse to guess."""
    same = Notification.objects.filter(id=row.id, status=N.SENDING, lease_until=row.lease_until, in_flight=True)
    if impl.can_reconcile:
        try:
            found = impl.reconcile(row)
        except TransportError:
            return "busy"  # cannot tell yet; the sweeper comes back
        if found is None:
            return None  # the vendor does not have it: claim and send again
        found_note = " (found at the vendor after a worker was lost)"
        return "reconciled" if _settle_sent(same, row, found, found_note) else "taken"
    with transaction.atomic():
        if not same.update(status=N.UNCONFIRMED, in_flight=False, lease_until=None, last_error="worker lost mid-send"):
            return "taken"
        _note(
            row,
            "notification_unconfirmed",
            f"{_describe(row)}: the worker stopped while sending; not re-sent, to avoid a duplicate. "
            "Check the channel.",
        )
    return "unconfirmed"


def _describe(row: Notification) -> str:
    if row.channel == "person" and row.kind == "handoff":
        return f"Handoff notice to {row.context.get('person')} by {row.context.get('method_label', row.target)}"
    if row.channel == "person":
        how = row.context.get("method_label", row.target)
        return f"Page to {row.context.get('person')} by {how} (level {row.context.get('level')})"
    impl = REGISTRY.get(row.channel)
    where = f"{impl.label if impl else row.channel}{' #' + row.target if row.target else ''}"
    what = {"page": f"page (level {row.context.get('level')})"}.get(row.kind, row.kind.replace("_", " "))
    return f"{where} {what}"


def _note(row: Notification, kind: str, message: str) -> None:
    data = {"notification": row.id, "channel": row.channel, "target": row.target, "kind": row.kind}
    if row.incident_id is None:
        events.emit(f"notification.{kind}", f"notification:{row.id}", {**data, "message": message})
        return
    incident_note(incident=row.incident_id, message=message, actor="system", kind=kind, data=data)


def notification_sweep(*, grace_s: float | None = None) -> dict[str, int]:
    """Beat: re-dispatch rows whose message never arrived (broker down, worker died), send reminders."""
    now = timezone.now()
    grace_s = settings.NOTIFICATION_SWEEP_GRACE_S if grace_s is None else grace_s
    stale = Q(status=N.PENDING, next_attempt_at__lt=now - timedelta(seconds=grace_s)) | Q(
        status=N.SENDING, lease_until__lt=now
    )
    ids = list(Notification.objects.filter(stale).order_by("id").values_list("id", flat=True)[:1000])
    sent = sum(1 for nid in ids if jobs.send(tasks.notification_deliver, nid))
    return {"redispatched": sent, "reminded": communications_remind()}


# --- the communication matrix -----------------------------------------------------------------------


def communications_plan(incident: Incident, policy: SeverityPolicy | None) -> list[CommunicationDue]:
    """On declaration: one row per audience the severity's policy asks for, with its due time."""
    if policy is None:
        return []
    rows = []
    for rule in policy.communications.all():
        if rule.requirement == Requirement.NONE:
            continue
        due = incident.declared_at + timedelta(seconds=rule.due_s) if rule.due_s is not None else None
        row = CommunicationDue(incident=incident, audience=rule.audience, requirement=rule.requirement, due_at=due)
        if rule.audience == Audience.STATUS_PAGE and not REGISTRY["statuspage"].enabled():
            row.sent_at, row.sent_via = timezone.now(), "built-in status page"  # /status/ shows it at once
        rows.append(row)
    return CommunicationDue.objects.bulk_create(rows)


def communications_replan(incident: Incident, policy: SeverityPolicy | None) -> None:
    """On a change of severity: the new severity's matrix applies from now on. A communication not
    yet sent takes the new requirement and the earlier of its due time and now + the new delay;
    one the new severity asks for is added, due from now; one it does not ask for any more is
    dropped unless already sent (what was sent stays on record)."""
    if policy is None:
        return
    now = timezone.now()
    rules = {rule.audience: rule for rule in policy.communications.all() if rule.requirement != Requirement.NONE}
    rows = {row.audience: row for row in CommunicationDue.objects.select_for_update().filter(incident=incident)}
    for audience, row in rows.items():
        if row.sent_at is None and audience not in rules:
            row.delete()
    for audience, rule in rules.items():
        due = now + timedelta(seconds=rule.due_s) if rule.due_s is not None else None
        row = rows.get(audience)
        if row is None:
            row = CommunicationDue(incident=incident, audience=audience, requirement=rule.requirement, due_at=due)
            if audience == Audience.STATUS_PAGE and not REGISTRY["statuspage"].enabled():
                row.sent_at, row.sent_via = now, "built-in status page"
            row.save()
        elif row.sent_at is None:
            row.requirement = rule.requirement
            if due is not None and (row.due_at is None or due < row.due_at):
                row.due_at = due
            row.save(update_fields=["requirement", "due_at"])


def communication_mark_sent(incident_id: int, audience: str, via: str, *, at: datetime | None = None) -> None:
    """The audience's required communication is done (the first delivery that satisfies it counts)."""
    CommunicationDue.objects.filter(incident_id=incident_id, audience=audience, sent_at=None).update(
        sent_at=at or timezone.now(), sent_via=via
    )


def communication_mark_sent_by_hand(
    *, incident: Incident, audience: str, note: str = "", actor: Any
) -> CommunicationDue:
    """A commander says an audience has been told another way (a phone call, a hand-written post):
    the communication counts as sent now, and the timeline says who marked it and why."""
    note = (note or "").strip()
    if len(note) > 500:
        raise DomainError("at most 500 characters", field="note")
    with transaction.atomic():
        due = CommunicationDue.objects.select_for_update().filter(incident=incident, audience=audience).first()
        if due is None:
            raise DomainError("this incident has no such communication", field="audience")
        if due.sent_at is not None:
            raise DomainError("already sent", field="audience")
        due.sent_at, due.sent_via = timezone.now(), f"{BY_HAND} ({actor_name(actor)})"
        due.save(update_fields=["sent_at", "sent_via"])
        label = due.get_audience_display()
        incident_note(
            incident=incident,
            message=f"{label} communication marked as sent by hand" + (f": {note}" if note else ""),
            actor=actor,
            kind="communication_marked_sent",
            data={"audience": audience, "note": note},
        )
    return due


def channel_send_test(*, channel: str, actor: Any) -> list[Notification]:
    """A test message on one configured channel, delivered now (the setup page's "Send test"). PagerDuty
    gets a P3 test trigger (it opens a PagerDuty incident to resolve there); the rest a plain message."""
    if channel not in REGISTRY:
        raise DomainError("no such channel", field="channel")
    impl = get_channel(channel)
    if not impl.enabled():
        raise DomainError(f"not configured: set {impl.requires}", field="channel")
    now = timezone.now()
    context = {
        "message": f"Test message from Pitchey Incidents, sent by {actor_name(actor)} at {format_timestamp(now)}. "
        "No action needed.",
        "id": f"TEST-{now:%Y%m%d%H%M%S}",
        "severity": "P3",
        "title": "Test from the setup page",
        "declared_at": now.isoformat(),
        "status": "test",
        "url": f"{_site()}/setup/",
    }
    rows = notification_enqueue(
        incident=None, channel=channel, kind="page" if channel == "pagerduty" else "test", context=context
    )
    for row in rows:
        try:
            notification_deliver(notification_id=row.id)
        except Exception as exc:  # a channel that cannot send without an incident says so on the page
            Notification.objects.filter(id=row.id).update(status=NotificationStatus.FAILED, last_error=str(exc)[:500])
    return list(Notification.objects.filter(id__in=[r.id for r in rows]).order_by("id"))


def unconfigured_audiences() -> list[str]:
    """Audiences no configured channel can reach (never reminded about nor counted overdue)."""
    return [audience for audience, channel in AUDIENCE_CHANNEL.items() if not REGISTRY[channel].enabled()]


def communications_remind() -> int:
    """Overdue required communications of open incidents: a reminder on the timeline and Slack, once.
    An audience no channel is configured for is not overdue: the setup page says what to set."""
    now = timezone.now()
    overdue = (
        CommunicationDue.objects.filter(
            sent_at=None,
            reminded_at=None,
            requirement=Requirement.REQUIRED,
            due_at__lt=now,
            incident__status__in=OPEN_STATUSES,
        )
        .exclude(audience__in=unconfigured_audiences())
        .select_related("incident")
    )
    count = 0
    for due in overdue[:200]:
        with transaction.atomic():
            if not CommunicationDue.objects.filter(id=due.id, reminded_at=None, sent_at=None).update(reminded_at=now):
                continue
            label = due.get_audience_display().lower()
            due_text = format_timestamp(due.due_at, seconds=True)
            incident_note(
                incident=due.incident_id,
                message=f"The {label} communication was due {due_text} and has not been sent",
                actor="system",
                kind="communication_overdue",
                data={"audience": due.audience, "due_at": due.due_at.isoformat()},
            )
            if REGISTRY["slack"].enabled():
                notification_enqueue(
                    incident=due.incident,
                    channel="slack",
                    kind="reminder",
                    context={"audience_label": label, "due_at": due_text},
                )
        count += 1
    return count


# --- escalation ---------------------------------------------------------------------------------------


def escalation_start(incident: Incident, policy: SeverityPolicy | None) -> None:
    """On declaration of an auto-paged severity: one timer per level; level 0-minute fires at once."""
    if not (policy and policy.auto_page):
        return
    timers = [
        EscalationTimer(
            incident=incident, level=level.level, due_at=incident.declared_at + timedelta(seconds=level.delay_s)
        )
        for level in EscalationLevel.objects.order_by("level")
    ]
    EscalationTimer.objects.bulk_create(timers)
    if any(t.due_at <= timezone.now() for t in timers):
        jobs.dispatch(tasks.escalation_fire_due)


def escalation_stop(incident: Incident, *, up_to: int | None = None) -> int:
    timers = EscalationTimer.objects.filter(incident=incident, fired_at=None, cancelled_at=None)
    if up_to is not None:
        timers = timers.filter(level__lte=up_to)
    return timers.update(cancelled_at=timezone.now())


def escalation_fire_due(*, limit: int = 200) -> int:
    """Beat: fire the timers that are due, each claimed and paged in one transaction."""
    now = timezone.now()
    due = EscalationTimer.objects.filter(fired_at=None, cancelled_at=None, due_at__lte=now).order_by("due_at", "level")
    fired = 0
    for timer_id, incident_id, level in due.values_list("id", "incident_id", "level")[:limit]:
        with transaction.atomic():
            # Lock the incident before its timer, in the order every incident change takes them
            # (lock the incident, then cancel its timers): the reverse order deadlocks.
            Incident.objects.select_for_update().filter(pk=incident_id).values_list("pk", flat=True).first()
            if not EscalationTimer.objects.filter(id=timer_id, fired_at=None, cancelled_at=None).update(fired_at=now):
                continue
            incident_escalation_due(incident=incident_id, level=level)
        fired += 1
    return fired


def page_level(incident: Incident, level_number: int, actor: Any, policy: SeverityPolicy | None) -> None:
    """Page one escalation level: each person it resolves to through their own rules, and every
    channel that carries pages. A level that resolves to nobody is a failure everyone sees."""
    level = EscalationLevel.objects.filter(level=level_number).first()
    name = level.name if level else f"level {level_number}"
    targets = level_targets(level) if level else []
    if targets:
        message = f"Paged {name} (level {level_number}): {', '.join(targets)}"
        data = {"level": level_number, "name": name, "targets": targets}
    else:
        message = f"Nobody was paged at level {level_number} ({name}): no one is configured for this level"
        data = {"level": level_number, "name": name, "targets": [], "unroutable": True, "failure": True}
    timeline_record(incident=incident, kind="paged", actor=actor, message=message, data=data)
    persons = people.users_named(targets)
    mentions = list(
        ContactMethod.objects.filter(user__in=persons, kind="slack", verified_at__isnull=False).values_list(
            "address", flat=True
        )
    )
    context = {"level": level_number, "level_name": name, "targets": targets, "mentions": mentions}
    page_people(incident, persons, context, policy)
    for impl in enabled_channels():
        if impl.wants("page", incident, policy):
            notification_enqueue(incident=incident, channel=impl.name, kind="page", context=context)


def page_people(incident: Incident, persons: list, context: dict[str, Any], policy: SeverityPolicy | None) -> int:
    """One outbox row per person and rule, due after the rule's delay; returns how many."""
    urgency = people.urgency_of(bool(policy and policy.auto_page))
    now = timezone.now()
    base = _json_safe({**incident_context(incident), **context, "urgency": urgency})
    while_triggered = incident.status == "triggered"
    count = 0
    for person in persons:
        rules = people.effective_rules(person, urgency)
        if not rules:
            timeline_record(
                incident=incident,
                kind="page_unreachable",
                actor="system",
                message=f"{person.get_username()} has no verified contact method for {urgency} urgency pages",
                data={"person": person.get_username(), "level": context.get("level"), "failure": True},
            )
            continue
        links = page_links(incident_id=incident.id, user=person)
        for method, delay in rules:
            ctx = {
                **base,
                "person": person.get_username(),
                "method": method.pk,
                "method_label": method.get_kind_display(),
                "delay_s": delay,
                "links": links,
                "while_triggered": while_triggered,
            }
            row = Notification.objects.create(
                incident=incident,
                channel="person",
                target=f"method-{method.pk}",
                kind="page",
                context=ctx,
                next_attempt_at=now + timedelta(seconds=delay),
            )
            jobs.dispatch(tasks.notification_deliver, row.id, countdown=delay or None)
            count += 1
    return count


def _page_next_now(row: Notification) -> None:
    """A person's method failed for good: their next queued page for this incident goes now."""
    following = (
        Notification.objects.filter(
            incident_id=row.incident_id,
            channel="person",
            status=N.PENDING,
            context__person=row.context.get("person"),
            next_attempt_at__gt=timezone.now(),
        )
        .order_by("next_attempt_at", "id")
        .first()
    )
    if following is not None and Notification.objects.filter(id=following.id, status=N.PENDING).update(
        next_attempt_at=timezone.now()
    ):
        jobs.dispatch(tasks.notification_deliver, following.id)

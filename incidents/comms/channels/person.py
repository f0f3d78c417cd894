"""Pages to one person through one of their contact methods (``incidents.comms.people``).

``target`` is ``method-<id>``. A page queued while the incident was unacknowledged is sent only
while it still is: the incident row is share-locked from that check until the send returns, so an
acknowledgement (which locks the row for update) commits either before the check (the page is
cancelled) or after the send. On SQLite, which has no row locks, the check is a plain read and the
send holds no transaction (see ``Person.send``).
"""

from __future__ import annotations

import contextlib

from django.db import connection, transaction
from django.utils.dateparse import parse_datetime

from incidents.comms import people
from incidents.comms.models import ContactMethod
from incidents.lifecycle.models import Incident
from pitchey_incidents.http import TransportError
from pitchey_incidents.timefmt import format_timestamp
from pitchey_incidents.zones import in_zone_of

from .base import Channel, register


class PageNotNeeded(Exception):
    """Someone acknowledged (or resolved) first: this page does not leave."""


def handoff_message(ctx: dict) -> people.Message:
    until = format_timestamp(parse_datetime(ctx["until"]))  # in the reader's zone (Person.send sets it)
    lines = [f"You are on call for {ctx['rotation']} until {until}.", ""]
    incidents = ctx.get("open_incidents") or []
    lines.append(f"Open incidents: {len(incidents)}" if incidents else "No open incidents.")
    lines += [f"- {i['id']} {i['severity']} {i['status']}: {i['title']}" for i in incidents]
    lines += ["", f"Schedule: {ctx.get('url', '')}"]
    return people.Message(
        subject=f"You are on call: {ctx['rotation']}", body="\n".join(lines), url=ctx.get("url", ""), priority="default"
    )


def message_for(ctx: dict, kind: str = "page") -> people.Message:
    if kind == "handoff":
        return handoff_message(ctx)
    links = ctx.get("links") or {}
    level = f" (level {ctx['level']}, {ctx.get('level_name', '')})" if ctx.get("level") else ""
    subject = f"[{ctx['severity']}] {ctx['id']} {ctx['title']} — you are paged{level}"
    lines = [
        f"{ctx['id']} · {ctx['severity']} · {ctx.get('status_display', '')}",
        ctx["title"],
        ctx.get("impact", ""),
        "",
        f"Open: {ctx.get('url', '')}",
    ]
    for purpose, url in links.items():
        lines.append(f"{purpose.capitalize()}: {url}")
    actions = tuple((p.capitalize(), u) for p, u in links.items() if p in ("acknowledge", "resolve"))
    return people.Message(
        subject=subject[:200],
        body="\n".join(line for line in lines if line is not None),
        url=links.get("acknowledge") or ctx.get("url", ""),
        priority="urgent" if ctx.get("urgency") == "high" else "default",
        actions=actions,
    )


def _still_needed(notification, *, lock: str) -> None:
    """``PageNotNeeded`` when the page's incident is closed, or acknowledged and the page was only
    for while it was triggered."""
    if notification.incident_id is None:
        return
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT status FROM {Incident._meta.db_table} WHERE id = %s{lock}", [notification.incident_id])
        row = cursor.fetchone()
    status = row[0] if row else None
    if status not in ("triggered", "acknowledged", "mitigating", "monitoring"):
        raise PageNotNeeded("the incident is closed")
    if notification.context.get("while_triggered") and status != "triggered":
        raise PageNotNeeded("acknowledged before it was sent")


@register
class Person(Channel):
    name = "person"
    label = "Page"

    def enabled(self) -> bool:
        return True  # who is paged, and how, is each person's own configuration

    def send(self, notification) -> dict:
        ctx = notification.context
        method = ContactMethod.objects.filter(pk=ctx.get("method")).first()
        if method is None or not method.pageable:
            raise TransportError("the contact method was removed or is not verified", permanent=True)
        with in_zone_of(method.user):  # moments in the person's own time zone
            msg = message_for(ctx, notification.kind)
        # PostgreSQL: the incident's row is share-locked until the send returns, so an acknowledgement
        # waits for it. SQLite has no row locks, and a transaction there takes the write lock as it
        # begins (transaction_mode IMMEDIATE): held for the whole send, it would stop every writer of
        # the platform (alerts, acknowledgements, other pages) as long as the vendor takes. A plain read.
        locking = connection.vendor == "postgresql"
        with transaction.atomic() if locking else contextlib.nullcontext():
            _still_needed(notification, lock=" FOR SHARE" if locking else "")
            return people.deliver(method, msg, f"notification-{notification.id}")

    def failed(self, notification, exc: TransportError) -> None:
        """The method itself is at fault (an invalid number, a removed topic): stop using it, show
        it on the person's profile, and move their next page for this incident forward."""
        if exc.status is not None and 400 <= exc.status < 500:
            people.contact_method_failed(notification.context.get("method"), exc.message)

"""On-call feeds as iCalendar (secret-token URLs, ``schedule.feed_create``): apart from the schedule
itself, so that only the feed's view loads the iCalendar library (about 80 modules)."""

from __future__ import annotations

from datetime import timedelta

import icalendar
from django.conf import settings
from django.utils import timezone

from incidents.comms.models import CalendarFeed
from incidents.comms.schedule import person_shifts, rotation_shifts


def feed_calendar(feed: CalendarFeed, *, days: int = 90) -> bytes:
    """The feed as iCalendar: shifts from a week ago to ``days`` ahead."""
    now = timezone.now()
    start, end = now - timedelta(days=7), now + timedelta(days=days)
    if feed.user_id:
        shifts, name = person_shifts(feed.user, start, end), f"On call: {feed.user.get_username()}"
    else:
        shifts, name = rotation_shifts(feed.rotation, start, end), f"On call: {feed.rotation.name}"
    cal = icalendar.Calendar()
    cal.add("prodid", "-//Pitchey Incidents//On call//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", name)
    cal.add("method", "PUBLISH")
    site = settings.SITE_URL.rstrip("/")
    for s in shifts:
        event = icalendar.Event()
        kind = "override" if "override" in s else "shift"
        ident = s["override"].pk if "override" in s else int(s["start"].timestamp())
        event.add("uid", f"{kind}-{s['rotation'].pk}-{ident}@{site.split('//')[-1]}")
        event.add("dtstamp", now)
        event.add("dtstart", s["start"])
        event.add("dtend", s["end"])
        cover = " (covering)" if "override" in s else ""
        event.add("summary", f"On call: {s['rotation'].name} — {s['user'].get_username()}{cover}")
        if s.get("covered_by"):
            event.add("description", f"Covered by {', '.join(s['covered_by'])}")
        event.add("url", f"{site}/people/oncall/")
        cal.add_component(event)
    return cal.to_ical()

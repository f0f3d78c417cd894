"""The public status page at ``/status/`` and its Atom feed: no login, no internal detail.

Shows each service's status (derived from the open incidents that affect it), the open incidents
with their public updates, and the last 90 days. Only what was meant for the public is read:
titles, public status, and timeline entries marked ``public``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.contrib.syndication.views import Feed
from django.db.models import Prefetch, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.feedgenerator import Atom1Feed

from incidents.lifecycle.models import OPEN_STATUSES, Incident, TimelineEntry
from pitchey_incidents.text import xml_safe
from recovery.models import Service

HISTORY_DAYS = 90
# What an open incident of each severity makes of its services' status, here and on Statuspage.
SERVICE_STATUS = {
    "P0": "major_outage",
    "P1": "partial_outage",
    "P2": "degraded_performance",
    "P3": "degraded_performance",
}
STATUS_LABEL = {
    "operational": "Operational",
    "degraded_performance": "Degraded performance",
    "partial_outage": "Partial outage",
    "major_outage": "Major outage",
}


def _public_updates():
    return Prefetch(
        "timeline",
        queryset=TimelineEntry.objects.filter(kind="status_update", data__public=True).only(
            "id", "incident_id", "at", "message", "data"
        ),
        to_attr="public_updates",
    )


def status_summary() -> dict:
    since = timezone.now() - timedelta(days=HISTORY_DAYS)
    incidents = list(
        Incident.objects.filter(Q(declared_at__gte=since) | Q(status__in=OPEN_STATUSES))
        .only("id", "severity", "title", "status", "public_status", "declared_at", "resolved_at")
        .prefetch_related(Prefetch("services", queryset=Service.objects.only("id", "slug", "name")), _public_updates())
        .order_by("-declared_at", "-id")
    )
    open_incidents = [i for i in incidents if i.status in OPEN_STATUSES]
    worst: dict[int, str] = {}
    for incident in sorted(open_incidents, key=lambda i: i.severity, reverse=True):
        for service in incident.services.all():
            worst[service.id] = incident.severity  # the most severe (lowest P) is written last
    services = [
        {
            "name": s.name,
            "slug": s.slug,
            "status": SERVICE_STATUS[worst[s.id]] if s.id in worst else "operational",
        }
        for s in Service.objects.only("id", "slug", "name")
    ]
    for item in services:
        item["label"] = STATUS_LABEL[item["status"]]
    overall = "operational" if not open_incidents else SERVICE_STATUS[min(i.severity for i in open_incidents)]
    return {
        "title": settings.STATUS_PAGE_TITLE,
        "overall": overall,
        "overall_label": STATUS_LABEL[overall],
        "services": services,
        "open_incidents": open_incidents,
        "past_incidents": [i for i in incidents if i.status not in OPEN_STATUSES],
        "history_days": HISTORY_DAYS,
    }


@login_not_required
def status_page(request: HttpRequest) -> HttpResponse:
    """The public page, with nothing in it a parser could choke on (``xml_safe`` over the whole page:
    a control character stored before input was cleaned, or written straight into the database)."""
    response = render(request, "incidents/comms/status.html", status_summary())
    response.content = xml_safe(response.content.decode(response.charset)).encode(response.charset)
    return response


# An entry of the feed: the incident, when, the label (Investigating, an update's status, Resolved), the text.
FeedItem = tuple[Incident, datetime, str, str]


class StatusFeed(Feed):
    feed_type = Atom1Feed
    link = "/status/"

    # Every text that goes into the XML passes ``xml_safe``: a control character already stored (from
    # before input was cleaned, or written straight into the database) can never make the feed fail.
    def title(self) -> str:
        return xml_safe(settings.STATUS_PAGE_TITLE)

    def subtitle(self) -> str:
        return "Incidents and their public updates"

    def items(self) -> list[FeedItem]:
        """One entry per incident start, public update and resolution, newest first."""
        summary = status_summary()
        entries = []
        for incident in summary["open_incidents"] + summary["past_incidents"]:
            entries.append((incident, incident.declared_at, "Investigating", "We are investigating this issue."))
            for update in incident.public_updates:
                label = str(update.data.get("public_status", "update")).title()
                entries.append((incident, update.at, label, update.message))
            if incident.resolved_at:
                entries.append((incident, incident.resolved_at, "Resolved", "This incident has been resolved."))
        entries.sort(key=lambda e: e[1], reverse=True)
        return entries[:100]

    def item_title(self, item: FeedItem) -> str:
        incident, _at, label, _text = item
        return xml_safe(f"{label}: {incident.title}")

    def item_description(self, item: FeedItem) -> str:
        return xml_safe(item[3])

    def item_link(self, item: FeedItem) -> str:
        return f"{reverse('status:page')}#{item[0].public_id}"

    def item_guid(self, item: FeedItem) -> str:
        return xml_safe(f"{item[0].public_id}:{item[1].isoformat()}:{item[2]}")

    def item_guid_is_permalink(self, item: FeedItem) -> bool:
        return False

    def item_pubdate(self, item: FeedItem) -> datetime:
        return item[1]

    def item_updateddate(self, item: FeedItem) -> datetime:
        return item[1]

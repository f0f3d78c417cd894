"""What post-mortems do when an incident changes. Both run inside the change's transaction: the
post-mortem opens with the resolution, and a close is refused while the post-mortem is not complete."""

from __future__ import annotations

from incidents.lifecycle.events import CloseRequested, Resolved, subscribe
from incidents.postmortems.models import PostMortem, PostMortemStatus
from incidents.postmortems.services import postmortem_open
from pitchey_incidents.errors import InvalidTransition


@subscribe(Resolved)
def incident_resolved(event: Resolved) -> None:
    postmortem_open(incident=event.incident, actor=event.actor)


@subscribe(CloseRequested)
def close_requested(event: CloseRequested) -> None:
    if not PostMortem.objects.filter(incident=event.incident, status=PostMortemStatus.COMPLETE).exists():
        raise InvalidTransition("the post-mortem is not complete yet", current_status=event.incident.status)

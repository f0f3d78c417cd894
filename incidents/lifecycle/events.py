"""Typed lifecycle events, and a small registry of who hears of them.

A lifecycle service publishes one event for each change it makes, inside the change's transaction.
The sub-packages above lifecycle subscribe to the types they care about (``comms/subscribers.py``,
``postmortems/subscribers.py``, registered from ``IncidentsConfig.ready``); lifecycle never learns
who they are.

Each handler says when it runs:

- in the change's transaction (the default): its writes commit or roll back with the change
  (outbox rows, escalation timers, the post-mortem), and it may refuse the change by raising;
- on commit (``on_commit=True``): once the change is committed, never if it rolled back.

Handlers run in the order they were subscribed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from django.db import transaction

from incidents.lifecycle.models import Incident

Actor = Any  # a User, or a name such as "system" or an integration's name


@dataclass(frozen=True)
class IncidentEvent:
    incident: Incident
    actor: Actor


@dataclass(frozen=True)
class IncidentChanged(IncidentEvent):
    """A change to an incident, on its timeline. ``kind`` is the change's name on the timeline, and
    the message kind channels and message templates know it by; ``message`` what the timeline says."""

    kind: ClassVar[str]
    message: str = ""


@dataclass(frozen=True)
class Declared(IncidentChanged):
    kind: ClassVar[str] = "declared"


@dataclass(frozen=True)
class Acknowledged(IncidentChanged):
    kind: ClassVar[str] = "acknowledged"


@dataclass(frozen=True)
class CommanderAssigned(IncidentChanged):
    kind: ClassVar[str] = "assigned"


@dataclass(frozen=True)
class SeverityChanged(IncidentChanged):
    kind: ClassVar[str] = "severity_changed"


@dataclass(frozen=True)
class PublicUpdatePosted(IncidentChanged):
    kind: ClassVar[str] = "status_update"


@dataclass(frozen=True)
class Escalated(IncidentChanged):
    """Someone escalated by hand; ``incident.escalation_level`` is the level reached."""

    kind: ClassVar[str] = "escalated"


@dataclass(frozen=True)
class EscalationDue(IncidentChanged):
    """An escalation timer came due while nobody acknowledged; ``incident.escalation_level`` is the level."""

    kind: ClassVar[str] = "escalation_due"


@dataclass(frozen=True)
class MonitoringStarted(IncidentChanged):
    kind: ClassVar[str] = "monitoring"


@dataclass(frozen=True)
class Resolved(IncidentChanged):
    kind: ClassVar[str] = "resolved"


@dataclass(frozen=True)
class Closed(IncidentChanged):
    kind: ClassVar[str] = "closed"


@dataclass(frozen=True)
class MitigationRequested(IncidentChanged):
    kind: ClassVar[str] = "mitigation_requested"


@dataclass(frozen=True)
class CloseRequested(IncidentEvent):
    """Published before a resolved incident closes; a handler refuses by raising ``InvalidTransition``."""


@dataclass(frozen=True)
class ReminderRecorded(IncidentEvent):
    """A reminder about something overdue went on the incident's timeline; people should hear of it.
    ``notification`` is the message kind to send, ``context`` what the message template gets."""

    notification: str
    context: dict = field(default_factory=dict)


E = TypeVar("E", bound=IncidentEvent)
Handler = Callable[[Any], None]


@dataclass(frozen=True)
class Subscription:
    types: tuple[type[IncidentEvent], ...]
    handler: Handler
    on_commit: bool


class Registry:
    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []

    def subscribe(self, *types: type[IncidentEvent], on_commit: bool = False) -> Callable[[Handler], Handler]:
        """Decorator: call the handler with every published event of one of ``types`` (or a subclass)."""
        if not types or not all(isinstance(t, type) and issubclass(t, IncidentEvent) for t in types):
            raise TypeError("subscribe() takes one or more event types")

        def register(handler: Handler) -> Handler:
            self._subscriptions.append(Subscription(types, handler, on_commit))
            return handler

        return register

    def publish(self, event: IncidentEvent) -> None:
        for sub in self._subscriptions:
            if not isinstance(event, sub.types):
                continue
            if sub.on_commit:
                transaction.on_commit(lambda handler=sub.handler: handler(event))
            else:
                sub.handler(event)

    def handlers(self, event_type: type[IncidentEvent]) -> list[Handler]:
        """Who hears of an event of this type, in order (for docs and tests)."""
        return [s.handler for s in self._subscriptions if issubclass(event_type, s.types)]


registry = Registry()
subscribe = registry.subscribe
publish = registry.publish

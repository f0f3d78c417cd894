"""The base class every channel implements, and how a message is rendered from its templates."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from django.template.loader import select_template

from pitchey_incidents.registry import Registry

if TYPE_CHECKING:
    from incidents.comms.models import Notification
    from incidents.lifecycle.models import Incident, SeverityPolicy

# Which runbook template renders which kind of message; other kinds use
# ``incidents/comms/notifications/<kind>.txt``.
TEMPLATES = {"declared": "initial", "status_update": "update", "resolved": "resolution"}


def render(kind: str, context: dict[str, Any], *, prefix: str = "") -> str:
    name = TEMPLATES.get(kind, kind)
    folder = "incidents/comms/notifications"
    template = select_template([f"{folder}/{prefix}{name}.txt", f"{folder}/{prefix}message.txt"])
    return template.render(context).strip()


class Channel(ABC):
    """One way of telling people. Subclasses are small: what they hear about, and how they send.

    ``idempotent`` channels may be re-sent after a worker died mid-request because the vendor
    de-duplicates (PagerDuty's ``dedup_key``, our webhook's delivery id). Others either know how
    to ``reconcile`` (ask the vendor whether it has the message) or are never re-sent blindly.
    """

    name: str = ""
    label: str = ""
    idempotent: bool = False

    @abstractmethod
    def enabled(self) -> bool: ...

    def wants(self, kind: str, incident: Incident, policy: SeverityPolicy | None) -> bool:
        """Whether a change (or message) of this kind goes to this channel."""
        return False

    def targets(self, kind: str, incident: Incident | None) -> list[str]:
        """Where inside the channel the message goes (Slack routes); never secrets."""
        return [""]

    @abstractmethod
    def send(self, notification: Notification) -> dict[str, Any]:
        """Deliver once. Return what later messages need; raise ``TransportError`` on failure."""
        ...

    def reconcile(self, notification: Notification) -> dict[str, Any] | None:
        """After a lost in-flight attempt: the vendor's record of it if it has one, else None.
        Only channels that set ``can_reconcile`` are asked."""
        return None

    can_reconcile: bool = False


REGISTRY: Registry[Channel] = Registry(
    "channel", package=__package__, modules=("slack", "pagerduty", "statuspage", "email", "webhook")
)
register = REGISTRY.register

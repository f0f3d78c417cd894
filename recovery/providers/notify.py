"""Communication drills: a test message to the test channels (never the real incident channels).

The incidents app owns the channels; it registers a sender hook (``hooks.send_test_message``).
``DRILL_SLACK_WEBHOOK`` adds a Slack test channel of our own.
"""

from __future__ import annotations

from django.conf import settings

from pitchey_incidents import http

from .. import hooks
from .base import Outcome, Provider, register


@register
class Notify(Provider):
    name = "notify"
    label = "Test channels"
    idempotent = frozenset({"test"})

    def available(self):
        if settings.DRILL_SLACK_WEBHOOK or hooks.get("send_test_message"):
            return True, ""
        return False, "set DRILL_SLACK_WEBHOOK or configure channels"

    def do_test(
        self, *, dry_run: bool, message: str = "Disaster-recovery drill: test message, no action needed."
    ) -> Outcome:
        if dry_run:
            return Outcome(True, "would send a test message to the test channels")
        sent, failed = [], []
        if settings.DRILL_SLACK_WEBHOOK:
            try:
                resp = http.request("POST", settings.DRILL_SLACK_WEBHOOK, json={"text": message})
                (sent if resp.text.strip() == "ok" else failed).append("slack-test")
            except http.TransportError:
                failed.append("slack-test")
        sender = hooks.get("send_test_message")
        if sender:
            for channel, ok in sender(message).items():
                (sent if ok else failed).append(channel)
        return Outcome(
            bool(sent) and not failed,
            f"sent: {', '.join(sent) or 'none'}; failed: {', '.join(failed) or 'none'}",
            {"sent": sent, "failed": failed},
        )

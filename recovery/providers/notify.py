"""Communication drills: a marked test message through every channel, each accepted by its receiver.

The incidents app owns the channels; it registers the sender hook (``hooks.send_test_message``).
``DRILL_SLACK_WEBHOOK`` adds a Slack test channel of our own. A channel that is not configured is
named (``missing``): the drill is then inconclusive, never succeeded.
"""

from __future__ import annotations

from django.conf import settings

from pitchey_incidents import http

from .. import hooks
from .base import Outcome, Provider, register

MESSAGE = "Disaster-recovery drill: test message, no action needed."


@register
class Notify(Provider):
    name = "notify"
    label = "Notification channels"
    idempotent = frozenset({"test"})

    def available(self):
        if settings.DRILL_SLACK_WEBHOOK or hooks.get("send_test_message"):
            return True, ""
        return False, "set DRILL_SLACK_WEBHOOK or configure channels"

    def do_test(self, *, dry_run: bool, message: str = MESSAGE) -> Outcome:
        if dry_run:
            return Outcome(True, "would send a test message through every configured channel")
        sent, failed, missing = [], [], []
        if settings.DRILL_SLACK_WEBHOOK:
            try:
                resp = http.request("POST", settings.DRILL_SLACK_WEBHOOK, json={"text": message})
                (sent if resp.text.strip() == "ok" else failed).append("slack-test")
            except http.TransportError:
                failed.append("slack-test")
        sender = hooks.get("send_test_message")
        if sender:
            answer = sender(message)
            sent += answer["sent"]
            failed += [f"{f['channel']} ({f['error']})" if f.get("error") else f["channel"] for f in answer["failed"]]
            missing += answer["missing"]
        return _verdict(sent, failed, missing)


def _verdict(sent: list[str], failed: list[str], missing: list[dict]) -> Outcome:
    """Failed when a channel refused; inconclusive (``unverified``) when one is not configured."""
    output = f"sent: {', '.join(sent) or 'none'}; failed: {', '.join(failed) or 'none'}"
    if missing:
        output += f"; not configured: {', '.join(m['what'] for m in missing)}"
    data = {"sent": sent, "failed": failed, "not_configured": missing}
    if failed:
        return Outcome(False, output, data)
    if not sent:
        return Outcome(False, output, data | {"missing": missing}, skipped=True)
    return Outcome(True, output, data | ({"unverified": missing} if missing else {}))

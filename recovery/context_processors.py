"""Every page knows which emergency switches are on or being changed (the banner, the status page's
line), and how often an open page asks again."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from .switches import banner_state, switches_shown


def switches(request: HttpRequest) -> dict[str, object]:
    rows = switches_shown()
    return {
        "switches_on": [r for r in rows if r.enabled],
        "switches_changing": [r for r in rows if r.switching],
        "switch_banner_state": banner_state(rows),
        "switch_banner_poll_s": settings.SWITCH_BANNER_POLL_S,
    }

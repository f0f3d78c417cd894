"""Every page knows which emergency switches are on (the banner, the status page's line)."""

from __future__ import annotations

from django.http import HttpRequest

from .switches import switches_on


def switches(request: HttpRequest) -> dict[str, object]:
    return {"switches_on": switches_on()}

"""``/preferences/``: a person's own settings (their time zone; UTC unless they choose another)."""

from __future__ import annotations

import zoneinfo

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from .models import UserPreference
from .zones import TZ_SESSION_KEY


def time_zones() -> list[str]:
    return [
        "UTC",
        *sorted(z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/"))),
    ]


@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest) -> HttpResponse:
    pref, _ = UserPreference.objects.get_or_create(user=request.user)
    status, saved, error = 200, False, ""
    if request.method == "POST":
        name = (request.POST.get("time_zone") or "").strip()
        if name not in time_zones():
            status, error = 400, f"unknown time zone {name!r}"
        else:
            pref.time_zone = name
            pref.save(update_fields=["time_zone"])
            request.session[TZ_SESSION_KEY] = name
            saved = True
            timezone.activate(zoneinfo.ZoneInfo(name))
    context = {"pref": pref, "zones": time_zones(), "saved": saved, "error": error}
    return render(request, "preferences.html", context, status=status)

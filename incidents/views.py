"""HTML pages (server-rendered, htmx)."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render

from . import selectors
from .models import Incident


def dashboard(request):
    incidents = selectors.incident_list(status="open")[:200]
    return render(request, "incidents/dashboard.html", {"incidents": incidents})


def incident_detail(request, public_id: str):
    try:
        incident = selectors.incident_get(public_id)
    except Incident.DoesNotExist:
        raise Http404("no such incident") from None
    return render(
        request,
        "incidents/detail.html",
        {
            "incident": incident,
            "timeline": selectors.incident_timeline(incident),
            "mitigations": selectors.incident_mitigations(incident),
        },
    )

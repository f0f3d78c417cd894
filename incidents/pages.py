"""Helpers every page view uses: the role check, ``?fragment=`` and where the live stream starts."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from pitchey_incidents.models import Event
from pitchey_incidents.roles import has_role


def require_role(request: HttpRequest, role: str) -> None:
    if not has_role(request.user, role):
        raise PermissionDenied(f"needs the {role} role")


def fragment_template(request: HttpRequest, template: str, allowed: set[str]) -> str:
    name = request.GET.get("fragment")
    if not name:
        return template
    if name not in allowed:
        raise Http404("no such fragment")
    return f"{template}#{name}"


def live_context() -> dict:
    """Where a page's live stream starts: after the newest event when the page was rendered."""
    return {"last_event_id": Event.objects.order_by("-id").values_list("id", flat=True).first() or 0}

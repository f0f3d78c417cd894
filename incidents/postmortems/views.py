"""HTML pages for post-mortems and action items (htmx fragments from ``{% partialdef %}``)."""

from __future__ import annotations

from datetime import UTC, datetime

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import escape
from django.views.decorators.http import require_http_methods, require_POST

from incidents.lifecycle import selectors
from incidents.lifecycle.models import Incident
from incidents.postmortems import selectors as postmortem_selectors
from incidents.postmortems import services as postmortem_services
from incidents.postmortems.models import SECTIONS, ActionItem, ActionItemStatus, PostMortem
from pitchey_incidents.errors import DomainError
from pitchey_incidents.roles import has_role

TEMPLATE = "incidents/postmortems/postmortem.html"


def _require(request, role: str) -> None:
    if not has_role(request.user, role):
        raise PermissionDenied(f"needs the {role} role")


def _incident(public_id: str) -> Incident:
    try:
        return selectors.incident_get(public_id)
    except Incident.DoesNotExist:
        raise Http404("no such incident") from None


def _context(incident: Incident, **extra) -> dict:
    try:
        pm = postmortem_selectors.postmortem_of(incident)
    except PostMortem.DoesNotExist:
        pm = None
    now = timezone.now()
    context = {"incident": incident, "postmortem": pm, "now": now, "statuses": ActionItemStatus.choices}
    if pm is not None:
        context.update(
            deadlines=postmortem_selectors.deadline_rows(pm, now),
            sections=[(name, label, getattr(pm, name)) for name, label in SECTIONS],
            items=list(pm.incident.action_items.all()),
            record=postmortem_selectors.incident_record(incident),
        )
    return context | extra


def _form_datetime(raw: str | None, field: str) -> datetime | None:
    """A ``datetime-local`` input (read as UTC) or an ISO datetime; blank → None."""
    raw = (raw or "").strip()
    if not raw:
        return None
    value = parse_datetime(raw) if len(raw) > 10 else None
    if value is None:
        raise DomainError("must be a date and time", field=field)
    return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)


@require_http_methods(["GET", "POST"])
def postmortem_page(request, public_id: str):
    incident = _incident(public_id)
    if request.method == "GET":
        fragment = request.GET.get("fragment")
        if request.htmx and fragment == "deadlines":
            return render(request, f"{TEMPLATE}#deadlines", _context(incident))
        return render(request, TEMPLATE, _context(incident))
    _require(request, "responder")
    error = None
    try:
        postmortem_services.postmortem_update(
            incident=incident,
            actor=request.user,
            sections={name: request.POST.get(name, "") for name, _ in SECTIONS if name in request.POST},
            status=request.POST.get("status") or None,
            meeting_at=_form_datetime(request.POST.get("meeting_at"), "meeting_at"),
        )
    except DomainError as exc:
        error = f"{exc.field}: {exc.message}" if exc.field else exc.message
    if not request.htmx:
        if error:
            return render(request, TEMPLATE, _context(incident, error=error), status=400)
        return redirect("incidents:postmortem", public_id=incident.public_id)
    context = _context(incident, error=error, saved=error is None, oob=True)
    return render(request, f"{TEMPLATE}#editor", context)


@require_POST
def postmortem_complete(request, public_id: str):
    _require(request, "commander")
    incident = _incident(public_id)
    try:
        postmortem_services.postmortem_complete(incident=incident, actor=request.user)
    except DomainError as exc:
        if request.htmx:
            return HttpResponse(f'<p class="error" role="alert">Cannot complete: {escape(exc.message)}</p>')
        return render(request, TEMPLATE, _context(incident, error=exc.message), status=exc.status_code)
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    return redirect("incidents:postmortem", public_id=incident.public_id)


@require_POST
def action_item_add(request, public_id: str):
    _require(request, "responder")
    incident = _incident(public_id)
    error = None
    try:
        postmortem_services.action_item_create(
            incident=incident,
            actor=request.user,
            title=request.POST.get("title", ""),
            owner=request.POST.get("owner") or None,
            due_at=_form_datetime(request.POST.get("due_at"), "due_at"),
        )
    except DomainError as exc:
        error = f"{exc.field}: {exc.message}" if exc.field else exc.message
    if not request.htmx:
        return redirect("incidents:postmortem", public_id=incident.public_id)
    return render(request, f"{TEMPLATE}#action_items", _context(incident, item_error=error, oob=True))


@require_POST
def action_item_status(request, item_id: int):
    _require(request, "responder")
    item = ActionItem.objects.filter(pk=item_id).first()
    if item is None:
        raise Http404("no such action item")
    try:
        postmortem_services.action_item_update(item=item, actor=request.user, status=request.POST.get("status"))
    except DomainError as exc:
        return HttpResponse(f'<tr><td colspan="6" class="error">{escape(exc.message)}</td></tr>')
    item = postmortem_selectors.action_items().get(pk=item_id)
    context = {"item": item, "now": timezone.now(), "statuses": ActionItemStatus.choices, "show_incident": True}
    if request.htmx:
        context["show_incident"] = request.POST.get("show_incident") == "1"
        return render(request, "incidents/postmortems/action_items.html#item_row", context)
    return redirect("incidents:action-items")


def action_item_list(request):
    """Open action items across incidents, overdue first (``?status=done|cancelled|all``)."""
    wanted = request.GET.get("status") or "open"
    if wanted not in ("open", "all", *ActionItemStatus.values):
        wanted = "open"
    now = timezone.now()
    items = list(postmortem_selectors.action_items(status=None if wanted == "all" else wanted, now=now)[:500])
    return render(
        request,
        "incidents/postmortems/action_items.html",
        {
            "items": items,
            "now": now,
            "wanted": wanted,
            "overdue": sum(1 for i in items if i.is_overdue(now)),
            "statuses": ActionItemStatus.choices,
            "show_incident": True,
        },
    )

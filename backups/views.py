"""The backups page: RPO per data type, backups and restores in progress (live progress bars and
steps, refreshed from the event stream), recent restores and backups with a restore button each, and
the point-in-time restore form."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_POST

from pitchey_incidents import events
from pitchey_incidents.errors import DomainError
from pitchey_incidents.htmx import HtmxHttpRequest
from pitchey_incidents.roles import has_role

from . import pitr, restores, selectors, services
from .models import Backup, Kind, Trigger


def backups_page(request: HtmxHttpRequest) -> HttpResponse:
    if not has_role(request.user, "viewer"):
        raise PermissionDenied("viewer role needed")
    template = "backups/index.html#live" if request.htmx else "backups/index.html"
    return render(request, template, _context())


def _context(**extra: object) -> dict:
    return {
        "rpo": selectors.rpo_status(),
        "running": _with_progress(selectors.running_backups()),
        "restoring": _with_progress(selectors.running_restores()),
        "restores": selectors.recent_restores(),
        "backups": selectors.backup_list()[:50],
        "kinds": _startable_kinds(),
        "pitr_on": pitr.configured(),
        "last_event_id": events.latest_id(),
        "pitr_form": {},
        "pitr_errors": {},
    } | extra


def _with_progress(rows) -> list:
    rows = list(rows)
    for row in rows:
        row.live = selectors.job_progress(row)
    return rows


def _startable_kinds() -> list[str]:
    """What the page offers to start: never WAL (the receiver ships it); base backups once archiving is on."""
    kinds = [k for k in Kind.values if k != Kind.WAL]
    return kinds if pitr.configured() else [k for k in kinds if k != Kind.BASEBACKUP]


def _require_commander(request: HtmxHttpRequest) -> None:
    if not has_role(request.user, "commander"):
        raise PermissionDenied("commander role needed")


@require_POST
def backup_start(request: HtmxHttpRequest) -> HttpResponse:
    _require_commander(request)
    try:
        backup = services.backup_start(kind=request.POST.get("kind", ""), actor=request.user, trigger=Trigger.MANUAL)
        messages.success(request, f"Backup {backup.id} ({backup.kind}) queued.")
    except DomainError as exc:
        messages.error(request, f"{exc.field or 'error'}: {exc.message}")
    return redirect("backups:index")


RESTORE_FIELDS = {"into", "database_url", "force", "parts", "confirm"}


def restore_page(request: HtmxHttpRequest, backup_id: int) -> HttpResponse:
    """``/backups/<id>/restore/``: what a restore of this backup will do, a dry run, and the restore."""
    _require_commander(request)
    backup = get_object_or_404(Backup, id=backup_id)
    values = {k: request.POST.get(k, "").strip() for k in ("into", "database_url")}
    values["force"] = bool(request.POST.get("force"))
    context = {"backup": backup, "preview": restores.restore_preview(backup), "values": values, "errors": {}}
    if request.method != "POST":
        return render(request, "backups/restore.html", context)
    dry_run = request.POST.get("action") == "dry_run"
    try:
        if not dry_run:
            _confirmed(request)
        row = restores.restore_start(backup=backup, actor=request.user, dry_run=dry_run, **values)
    except DomainError as exc:
        shown = exc.field in RESTORE_FIELDS
        context["errors"] = {
            exc.field if shown else "restore": exc.message if shown else f"{exc.field or 'error'}: {exc.message}"
        }
        return render(request, "backups/restore.html", context, status=400)
    if dry_run:
        return render(request, "backups/restore.html", context | {"dry_run": row})
    messages.success(request, f"Restore {row.id} of backup {backup.id} queued: follow it under In progress.")
    return redirect("backups:index")


@require_POST
def pitr_restore(request: HtmxHttpRequest) -> HttpResponse:
    """The restore-to-time form: a moment in the viewer's own time zone (or the latest WAL), a port."""
    _require_commander(request)
    form = {k: request.POST.get(k, "").strip() for k in ("to_time", "port")}
    form["latest"] = bool(request.POST.get("latest"))
    try:
        _confirmed(request)
        row = restores.pitr_restore_start(to_time=_moment(form), port=_port(form["port"]), actor=request.user)
    except DomainError as exc:
        errors = {exc.field or "to_time": exc.message}
        return render(request, "backups/index.html", _context(pitr_form=form, pitr_errors=errors), status=400)
    messages.success(request, f"Point-in-time restore {row.id} to {row.to_time} queued: follow it under In progress.")
    return redirect("backups:index")


def _confirmed(request: HtmxHttpRequest) -> None:
    if request.POST.get("confirm") != "yes":
        raise DomainError("tick the box to say you mean it", field="confirm")


def _moment(form: dict) -> str:
    """``latest``, or the form's local date and time in the viewer's zone, as ISO 8601 with its offset."""
    if form["latest"]:
        return "latest"
    if not form["to_time"]:
        raise DomainError("give a date and time, or choose the latest WAL received", field="to_time")
    value = parse_datetime(form["to_time"].replace(" ", "T", 1))
    if value is None:
        raise DomainError(f"not a date and time: {form['to_time']!r}", field="to_time")
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_current_timezone())
    if value > timezone.now():
        raise DomainError(
            "is in the future: the newest moment there is to restore to is the latest WAL", field="to_time"
        )
    return value.isoformat()


def _port(raw: str) -> int | None:
    if not raw:
        return None
    if not raw.isdigit():
        raise DomainError("must be a number between 1024 and 65535, or empty for a free one", field="port")
    return int(raw)

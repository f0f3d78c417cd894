"""The backups page: RPO per data type, backups in progress (live progress bars), recent backups."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from pitchey_incidents.errors import DomainError
from pitchey_incidents.htmx import HtmxHttpRequest
from pitchey_incidents.roles import has_role

from . import pitr, selectors, services
from .models import Kind, Trigger


def backups_page(request: HtmxHttpRequest) -> HttpResponse:
    if not has_role(request.user, "viewer"):
        raise PermissionDenied("viewer role needed")
    running = list(selectors.running_backups())
    context = {
        "rpo": selectors.rpo_status(),
        "running": running,
        "backups": selectors.backup_list()[:50],
        "kinds": _startable_kinds(),
    }
    template = "backups/index.html#live" if request.htmx else "backups/index.html"
    return render(request, template, context)


def _startable_kinds() -> list[str]:
    """What the page offers to start: never WAL (the receiver ships it); base backups once archiving is on."""
    kinds = [k for k in Kind.values if k != Kind.WAL]
    return kinds if pitr.configured() else [k for k in kinds if k != Kind.BASEBACKUP]


@require_POST
def backup_start(request: HtmxHttpRequest) -> HttpResponse:
    if not has_role(request.user, "commander"):
        raise PermissionDenied("commander role needed")
    try:
        backup = services.backup_start(kind=request.POST.get("kind", ""), actor=request.user, trigger=Trigger.MANUAL)
        messages.success(request, f"Backup {backup.id} ({backup.kind}) queued.")
    except DomainError as exc:
        messages.error(request, f"{exc.field or 'error'}: {exc.message}")
    return redirect("backups:index")

"""The emergency controls page: every runbook emergency command with a preview of the exact request,
a confirmation, its live output and its undo; the switches that are on; the one audit trail.

``POST /controls/`` takes ``control`` (a control's name, or ``undo`` with ``run``), ``step``
(``preview`` runs it as a dry run; ``run`` needs ``confirm=yes``), ``idempotency_key`` (a double
click runs once) and the control's parameters as ``p_<name>``.
"""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods

from backups import selectors as backup_selectors
from pitchey_incidents.errors import DomainError
from pitchey_incidents.htmx import HtmxHttpRequest
from recovery.actions import get_action
from recovery.controls import BY_NAME, EMERGENCY_CONTROLS, control_run, control_undo, open_undos
from recovery.models import ControlRun, RuntimeFlag
from recovery.switches import SWITCHES, banner_state, switches_shown

from .pages import fragment_template as _fragment
from .pages import live_context as _live
from .pages import require_role as _require

PURGE_KINDS = ("files", "tags", "hosts", "prefixes")


def _cards() -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for control in EMERGENCY_CONTROLS:
        action = get_action(control.action)
        configured, why = action.available()
        card = {"control": control, "action": action, "configured": configured, "why": why, "key": uuid.uuid4().hex}
        groups.setdefault(control.group, []).append(card)
    return groups


def _switches() -> list[RuntimeFlag]:
    rows = {f.name: f for f in RuntimeFlag.objects.filter(name__in=SWITCHES)}
    return [rows.get(name) or RuntimeFlag(name=name) for name in SWITCHES]


def _context(**extra) -> dict:
    return {
        "groups": _cards(),
        "switches": _switches(),
        "undos": open_undos(),
        "audit": ControlRun.objects.all()[:30],
        "backups_running": list(backup_selectors.running_backups()[:5]),
        "undo_key": uuid.uuid4().hex,
        **_live(),
        **extra,
    }


def _params(name: str, post) -> dict:
    """The control's parameters from the form (``p_<name>``); the edge purge's kind and items."""
    if name == "purge_edge_cache":
        kind = post.get("p_by") or "everything"
        if kind == "everything":
            return {}
        if kind not in PURGE_KINDS:
            raise DomainError(f"must be everything or one of {', '.join(PURGE_KINDS)}", field="params.by")
        items = [i.strip() for i in (post.get("p_items") or "").replace("\n", ",").split(",") if i.strip()]
        if not items:
            raise DomainError(f"list the {kind} to purge", field=f"params.{kind}")
        return {kind: items}
    known = {p.name for p in get_action(BY_NAME[name].action).params}
    return {k[2:]: v for k, v in post.items() if k.startswith("p_") and k[2:] in known and v != ""}


def _run(request: HttpRequest, name: str) -> tuple[int, dict]:
    post = request.POST
    step = post.get("step") or "run"
    if step not in ("preview", "run"):
        return 400, {"errors": {name: "step must be preview or run"}}
    if step == "run" and post.get("confirm") != "yes":
        return 400, {"errors": {name: "Tick the confirmation box to run this control."}}
    actor = request.user.get_username()
    if name == "undo":
        run_id = post.get("run") or ""
        if not run_id.isdigit():
            return 400, {"errors": {"undo": "run: must be a control run's id"}}
        run = control_undo(run_id=int(run_id), actor=actor, idempotency_key=post.get("idempotency_key") or None)
    else:
        run = control_run(
            action=name,
            params=_params(name, post),
            actor=actor,
            dry_run=step == "preview",
            incident=(post.get("incident") or "").strip(),
            idempotency_key=(post.get("idempotency_key") or None) if step == "run" else None,
        )
    return 200, {"answer": {name: run}}


@require_http_methods(["GET", "POST"])
def controls(request: HtmxHttpRequest) -> HttpResponse:
    _require(request, "viewer")
    if request.method == "GET":
        template = _fragment(request, "incidents/controls.html", {"state", "audit", "backups"})
        return render(request, template, _context())
    _require(request, "commander")
    name = request.POST.get("control") or ""
    if name != "undo" and name not in BY_NAME:
        status, extra = 400, {"errors": {"form": f"unknown control {name!r}; known: {', '.join(BY_NAME)}"}}
    else:
        try:
            status, extra = _run(request, name)
        except DomainError as exc:
            where = f"{exc.field}: " if exc.field else ""
            status, extra = 400, {"errors": {name: f"{where}{exc.message}"}}
    # A new idempotency key comes with a preview only: a second click on Run repeats nothing.
    fresh_key = uuid.uuid4().hex if request.POST.get("step") == "preview" else ""
    context = _context(control_name=name, key_refresh=fresh_key, **extra)
    if request.htmx and name in BY_NAME:
        response = render(request, "incidents/controls.html#answer", context | _card_of(name), status=status)
    else:
        response = render(request, "incidents/controls.html", context, status=status)
    response["HX-Trigger"] = "controls-changed"
    return response


def _card_of(name: str) -> dict:
    return next({"card": c} for cards in _cards().values() for c in cards if c["control"].name == name)


@login_not_required  # a page whose session ended is answered 403, not the login page swapped into its banner
@require_GET
def switch_banner(request: HtmxHttpRequest) -> HttpResponse:
    """The banner alone, for an open page that asks whether a switch went on or off (viewer or
    above): 204 while what the page shows (``seen``, the banner's digest) is still true."""
    _require(request, "viewer")
    if request.GET.get("seen") == banner_state(switches_shown()):
        return HttpResponse(status=204)
    return render(request, "base.html#switch-banner")

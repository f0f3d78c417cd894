"""HTML pages (server-rendered, htmx). Reads go through selectors, every write through services.

Each page is one template with ``{% partialdef %}`` fragments; ``?fragment=NAME`` (what htmx asks
for when the live stream says something changed) renders just that fragment. Writes answer an htmx
request with the page's fragment (errors inline, status 400/409), a plain form post with a redirect.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from backups import selectors as backup_selectors
from incidents.comms import services as comms_services
from incidents.detection import selectors as detection_selectors
from incidents.lifecycle import selectors, services
from incidents.lifecycle.models import Incident, PublicStatus
from incidents.pages import fragment_template as _fragment
from incidents.pages import live_context as _live
from incidents.pages import require_role as _require
from incidents.setup import setup_report
from pitchey_incidents.errors import DomainError, InvalidTransition
from pitchey_incidents.htmx import HtmxHttpRequest
from pitchey_incidents.roles import has_role
from pitchey_incidents.workers import queue_status
from recovery import selectors as recovery_selectors
from recovery.actions import REGISTRY, get_action
from recovery.models import Service, Severity

# --- the dashboard ---------------------------------------------------------------------------------


def dashboard(request: HttpRequest) -> HttpResponse:
    _require(request, "viewer")
    template = _fragment(request, "incidents/dashboard.html", {"incidents", "services", "backups", "recovery"})
    context = {
        "now": timezone.now(),
        "groups": selectors.open_incidents_by_severity(),
        "services": selectors.service_board(health=detection_selectors.service_health()),
        **_live(),
    }
    fragment = request.GET.get("fragment")
    if fragment in (None, "backups"):
        context["rpo"] = backup_selectors.rpo_status()
        context["backups_running"] = backup_selectors.running_backups().count()
    if fragment in (None, "recovery"):
        context["recent_runs"] = list(recovery_selectors.runs().order_by("-created_at")[:6])
    context["open_count"] = sum(len(g["incidents"]) for g in context["groups"])
    if fragment is None:
        report = setup_report()
        context["setup_missing"] = report["missing"]
        context["setup_headline"] = report["consequences"][:1]
        context["queues_without_workers"] = [s for s in queue_status() if s.stale]
    return render(request, template, context)


# --- setup -----------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def setup(request):
    """What is configured and what is not, the consequences, and a "Send test" per channel."""
    _require(request, "viewer")
    context: dict = {"can_command": has_role(request.user, "commander")}
    status = 200
    if request.method == "POST":
        _require(request, "commander")
        channel = request.POST.get("channel") or ""
        try:
            sent = comms_services.channel_send_test(channel=channel, actor=request.user)
            context["test_result"] = {
                "channel": channel,
                "ok": bool(sent) and all(n.status == "sent" for n in sent),
                "rows": sent,
            }
        except DomainError as exc:
            status = 400
            context["test_result"] = {"channel": channel, "ok": False, "error": exc.message}
    context["report"] = setup_report()
    return render(request, "incidents/setup.html", context, status=status)


# --- declare ---------------------------------------------------------------------------------------


class DeclareForm(forms.Form):
    severity = forms.ChoiceField(choices=Severity.choices, widget=forms.RadioSelect)
    title = forms.CharField(max_length=200)
    description = forms.CharField(required=False, max_length=20000, widget=forms.Textarea(attrs={"rows": 4}))
    services = forms.ModelMultipleChoiceField(
        queryset=Service.objects.all(), to_field_name="slug", required=False, widget=forms.CheckboxSelectMultiple
    )


@require_http_methods(["GET", "POST"])
def declare(request: HttpRequest) -> HttpResponse:
    _require(request, "commander")
    form = DeclareForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                incident = services.incident_declare(
                    severity=data["severity"],
                    title=data["title"],
                    description=data["description"],
                    services=[s.slug for s in data["services"]],
                    actor=request.user,
                )
            except DomainError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                return redirect(incident)
        status = 400
    policies = selectors.severity_policies()
    return render(request, "incidents/declare.html", {"form": form, "policies": policies}, status=status)


# --- the incident page -----------------------------------------------------------------------------


def _detail_context(request: HttpRequest, incident: Incident, **extra: Any) -> dict:
    policy = selectors.severity_policies().get(incident.severity)
    due = incident.declared_at + policy.response_time if policy else None
    now = timezone.now()
    action_name = request.GET.get("action") or extra.pop("chosen_action", None) or "enable_read_only"
    if action_name not in REGISTRY:
        action_name = next(iter(sorted(REGISTRY)))
    return {
        "incident": incident,
        "now": now,
        "policy": policy,
        "response_due": due,
        "response_overdue": bool(due and not incident.acknowledged_at and now > due),
        "timeline": selectors.incident_timeline(incident),
        "mitigations": selectors.incident_mitigations(incident),
        "actions": [impl.describe() for _, impl in sorted(REGISTRY.items())],
        "chosen_action": get_action(action_name).describe(),
        "severities": Severity.choices,
        "public_statuses": [c for c in PublicStatus.choices if c[0] != PublicStatus.RESOLVED],
        "responders": selectors.responders(),
        "errors": {},
        "values": {},
        **_live(),
        **extra,
    }


def incident_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    _require(request, "viewer")
    incident = selectors.incident_or_404(public_id)
    template = _fragment(request, "incidents/detail.html", {"summary", "activity", "mitigation_params", "page"})
    return render(request, template, _detail_context(request, incident))


def _mitigation_params(request: HttpRequest, action: str) -> dict:
    impl = get_action(action)
    params = {}
    for param in impl.params:
        values = request.POST.getlist(f"params.{param.name}")
        params[param.name] = values[-1] if values else None
    return params


# Each form on the incident page: the role it needs, and the service call it makes.
INCIDENT_ACTIONS = {
    "acknowledge": ("responder", "Acknowledged", lambda i, r: services.incident_acknowledge(incident=i, actor=r.user)),
    "assign": (
        "commander",
        "Commander assigned",
        lambda i, r: services.incident_assign(
            incident=i, commander=r.POST.get("commander") or r.user.get_username(), actor=r.user
        ),
    ),
    "severity": (
        "commander",
        "Severity changed",
        lambda i, r: services.incident_change_severity(
            incident=i, severity=r.POST.get("severity"), reason=r.POST.get("reason"), actor=r.user
        ),
    ),
    "update": (
        "responder",
        "Status update posted",
        lambda i, r: services.incident_post_update(
            incident=i, public_status=r.POST.get("public_status"), message=r.POST.get("message"), actor=r.user
        ),
    ),
    "mitigate": (
        "responder",
        "Mitigation requested",
        lambda i, r: services.mitigation_start(
            incident=i,
            action=r.POST.get("action") or "",
            params=_mitigation_params(r, r.POST.get("action") or ""),
            dry_run=r.POST.get("dry_run") == "on",
            actor=r.user,
        ),
    ),
    "escalate": (
        "commander",
        "Escalated",
        lambda i, r: services.incident_escalate(incident=i, reason=r.POST.get("reason") or "", actor=r.user),
    ),
    "mark_sent": (
        "commander",
        "Marked as sent",
        lambda i, r: comms_services.communication_mark_sent_by_hand(
            incident=i, audience=r.POST.get("audience") or "", note=r.POST.get("note") or "", actor=r.user
        ),
    ),
    "monitor": ("commander", "Now monitoring", lambda i, r: services.incident_monitor(incident=i, actor=r.user)),
    "resolve": (
        "commander",
        "Resolved",
        lambda i, r: services.incident_resolve(incident=i, resolution=r.POST.get("resolution"), actor=r.user),
    ),
}


def incident_action(request: HtmxHttpRequest, public_id: str, action: str) -> HttpResponse:
    if action not in INCIDENT_ACTIONS:
        raise Http404("no such action")
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    role, done, call = INCIDENT_ACTIONS[action]
    _require(request, role)
    incident = selectors.incident_or_404(public_id)
    try:
        call(incident, request)
    except DomainError as exc:
        status = 409 if isinstance(exc, InvalidTransition) else 400
        errors = {action: {exc.field or "form": exc.message}}
        context = _detail_context(
            request,
            incident,
            errors=errors,
            values={action: request.POST},
            open_form=action,
            chosen_action=request.POST.get("action") if action == "mitigate" else None,
        )
        template = "incidents/detail.html#page" if request.htmx else "incidents/detail.html"
        return render(request, template, context, status=status)
    if not request.htmx:
        return redirect(incident)
    incident = selectors.incident_or_404(public_id)
    return render(request, "incidents/detail.html#page", _detail_context(request, incident, flash=done))

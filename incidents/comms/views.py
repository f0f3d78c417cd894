"""People's pages: their profile (contact methods, notification rules), on-call, and the
one-click page links (``links.py``) that work without a session."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from incidents.comms import people
from incidents.comms.links import LINK_ROLES, BadLink, read_token
from incidents.comms.models import ContactKind, ContactMethod, NotificationRule, Urgency, UsedLink
from incidents.lifecycle import services as lifecycle
from incidents.lifecycle.models import Incident
from pitchey_incidents.errors import DomainError
from pitchey_incidents.roles import has_role


def _person(request: HttpRequest, username: str | None):
    """The profile being looked at: one's own, or anyone's for an admin."""
    if not has_role(request.user, "viewer"):
        raise PermissionDenied("needs a role")
    if username is None or username == request.user.get_username():
        return request.user
    if not has_role(request.user, "admin"):
        raise PermissionDenied("only an admin manages another person's profile")
    return get_object_or_404(get_user_model(), username=username)


def _profile_context(person, **extra) -> dict:
    methods = list(ContactMethod.objects.filter(user=person))
    rules = list(NotificationRule.objects.filter(user=person).select_related("method"))
    effective = {u: people.effective_rules(person, u) for u in Urgency.values}
    return {
        "person": person,
        "methods": methods,
        "rules": rules,
        "effective": [(Urgency(u).label, effective[u]) for u in Urgency.values],
        "kinds": ContactKind.choices,
        "urgencies": Urgency.choices,
        "values": {},
        "errors": {},
        **extra,
    }


@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest, username: str | None = None) -> HttpResponse:
    person = _person(request, username)
    if request.method == "GET":
        return render(request, "incidents/comms/profile.html", _profile_context(person, flash=request.GET.get("done")))
    action = request.POST.get("do", "")
    try:
        done = _profile_action(person, action, request.POST)
    except DomainError as exc:
        errors = {action: {exc.field or "form": exc.message}}
        context = _profile_context(person, errors=errors, values={action: request.POST})
        return render(request, "incidents/comms/profile.html", context, status=400)
    here = request.path
    return redirect(f"{here}?done={done}")


def _method_of(person, post) -> ContactMethod:
    method = ContactMethod.objects.filter(user=person, pk=post.get("method") or 0).first()
    if method is None:
        raise DomainError("no such contact method", field="method")
    return method


def _profile_action(person, action: str, post) -> str:
    if action == "add-method":
        method = people.contact_method_add(
            user=person,
            kind=post.get("kind", ""),
            address=post.get("address", ""),
            server=post.get("server", ""),
            token=post.get("token", ""),
        )
        people.contact_method_send_code(method)
        return "code-sent"
    if action == "send-code":
        people.contact_method_send_code(_method_of(person, post))
        return "code-sent"
    if action == "verify":
        people.contact_method_verify(_method_of(person, post), post.get("code", ""))
        return "verified"
    if action == "remove-method":
        _method_of(person, post).delete()
        return "removed"
    if action == "add-rule":
        try:
            delay = int(float(post.get("delay_min") or 0) * 60)
        except ValueError:
            raise DomainError("a number of minutes", field="delay_min") from None
        people.rule_add(user=person, urgency=post.get("urgency", ""), method=_method_of(person, post), delay_s=delay)
        return "rule-added"
    if action == "remove-rule":
        NotificationRule.objects.filter(user=person, pk=post.get("rule") or 0).delete()
        return "rule-removed"
    raise DomainError("unknown action")


# --- page links ------------------------------------------------------------------------------------------

LINK_ACTIONS = {
    "acknowledge": lambda incident, user: lifecycle.incident_acknowledge(incident=incident, actor=user),
    "escalate": lambda incident, user: lifecycle.incident_escalate(
        incident=incident, actor=user, reason="escalated from a page link"
    ),
    "resolve": lambda incident, user: lifecycle.incident_resolve(
        incident=incident, resolution="Resolved from a page link.", actor=user
    ),
}


def _link_page(request, *, status: int, title: str, message: str, **extra) -> HttpResponse:
    context = {"title": title, "message": message, **extra}
    return render(request, "incidents/comms/page_link.html", context, status=status)


@login_not_required
@csrf_exempt  # the signed token is the credential; there is no session to ride on
@require_http_methods(["GET", "POST"])
def page_link(request: HttpRequest, purpose: str, token: str) -> HttpResponse:
    """GET: what the link will do, and one button. POST: do it, as the paged person, once."""
    try:
        link = read_token(purpose, token)
    except BadLink as exc:
        return _link_page(request, status=400, title="This link does not work", message=str(exc))
    incident = Incident.objects.filter(pk=link.incident_id).first()
    if incident is None:
        return _link_page(request, status=404, title="No such incident", message="The incident no longer exists.")
    if not has_role(link.user, LINK_ROLES[purpose]):
        return _link_page(
            request,
            status=403,
            title="Not allowed",
            message=f"{link.user.get_username()} needs the {LINK_ROLES[purpose]} role to {purpose} an incident.",
            incident=incident,
        )
    if UsedLink.objects.filter(digest=link.digest).exists():
        return _used(request, incident)
    if request.method == "GET":
        return render(
            request, "incidents/comms/page_link.html", {"incident": incident, "purpose": purpose, "link": link}
        )
    try:
        with transaction.atomic():
            UsedLink.objects.create(digest=link.digest, purpose=purpose, used_by=link.user.get_username())
            LINK_ACTIONS[purpose](incident, link.user)
    except IntegrityError:
        return _used(request, incident)
    except DomainError as exc:
        incident.refresh_from_db()
        return _link_page(
            request,
            status=409,
            title=f"Could not {purpose} {incident.public_id}",
            message=f"{exc.message}. It is {incident.get_status_display().lower()} now.",
            incident=incident,
        )
    incident.refresh_from_db()
    return _link_page(
        request,
        status=200,
        title=f"{incident.public_id} is {incident.get_status_display().lower()}",
        message=f"Done, as {link.user.get_username()}.",
        incident=incident,
        done=True,
    )


def _used(request, incident) -> HttpResponse:
    return _link_page(
        request,
        status=410,
        title="This link was already used",
        message="Each link acts once. Open the incident to see where it stands.",
        incident=incident,
    )

"""People's pages: their profile (contact methods, notification rules), on-call, and the
one-click page links (``links.py``) that work without a session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from incidents.comms import ical, oncall, people, schedule
from incidents.comms.links import LINK_ROLES, BadLink, button_actions, read_token
from incidents.comms.models import (
    CalendarFeed,
    ContactKind,
    ContactMethod,
    EscalationTarget,
    NotificationRule,
    OnCallMember,
    OnCallOverride,
    OnCallRotation,
    Urgency,
    UsedLink,
)
from incidents.lifecycle.models import EscalationLevel, Incident
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
        done = _profile_action(request.user, person, action, request.POST)
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


def _profile_action(me, person, action: str, post) -> str:
    if action == "add-method":
        method = people.contact_method_create(
            actor=me,
            user=person,
            kind=post.get("kind", ""),
            address=post.get("address", ""),
            server=post.get("server", ""),
            token=post.get("token", ""),
        )
        return "verified" if method.pageable else "code-sent"
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

LINK_ACTIONS = button_actions("a page link")


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
    refusal = _link_refusal(request, purpose, link, incident)
    if refusal is not None:
        return refusal
    if request.method == "GET":
        return render(
            request, "incidents/comms/page_link.html", {"incident": incident, "purpose": purpose, "link": link}
        )
    return _link_use(request, purpose, link, incident)


def _link_refusal(request: HttpRequest, purpose: str, link, incident: Incident | None) -> HttpResponse | None:
    """The page saying why a well-signed link cannot act (gone, not allowed, used), or None."""
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
    return None


def _link_use(request: HttpRequest, purpose: str, link, incident: Incident) -> HttpResponse:
    """Spend the link and act, as the paged person; the page says how it went."""
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


# --- on-call -----------------------------------------------------------------------------------------------


def _when(value: str | None):
    """A ``datetime-local`` input (in UTC, as every time here) → an aware datetime, or None."""
    try:
        return datetime.fromisoformat((value or "").strip()).replace(tzinfo=UTC)
    except ValueError:
        return None


def _oncall_context(request: HttpRequest, **extra) -> dict:
    now = timezone.now()
    rotations = []
    for rotation in oncall.rotations_at(now):
        rotations.append(
            {
                "rotation": rotation,
                "now": oncall.oncall_now(rotation, now),
                "members": list(rotation.members.all()),
                "overrides": list(rotation.overrides.filter(ends_at__gt=now).select_related("user")),
                "shifts": schedule.rotation_shifts(rotation, now, now + timedelta(days=14))[:10],
                "feeds": [f for f in rotation.calendar_feeds.all() if f.revoked_at is None],
            }
        )
    levels = []
    for level in EscalationLevel.objects.prefetch_related("targets__user", "targets__rotation").order_by("level"):
        levels.append({"level": level, "targets": list(level.targets.all()), "now": oncall.level_targets(level, now)})
    return {
        "rotations": rotations,
        "levels": levels,
        "my_shifts": schedule.person_shifts(request.user, now, now + timedelta(days=28)),
        "my_feeds": list(CalendarFeed.objects.filter(user=request.user, revoked_at=None)),
        "people": get_user_model().objects.filter(is_active=True).order_by("username"),
        "can_manage": has_role(request.user, "commander"),
        "can_cover": has_role(request.user, "responder"),
        "site": settings.SITE_URL.rstrip("/"),
        "errors": {},
        "now": now,
        **extra,
    }


@require_http_methods(["GET", "POST"])
def oncall_page(request: HttpRequest) -> HttpResponse:
    if not has_role(request.user, "viewer"):
        raise PermissionDenied("needs a role")
    if request.method == "GET":
        return render(request, "incidents/comms/oncall.html", _oncall_context(request, flash=request.GET.get("done")))
    action = request.POST.get("do", "")
    try:
        done = _oncall_action(request, action, request.POST)
    except DomainError as exc:
        context = _oncall_context(request, errors={exc.field or "form": exc.message})
        return render(request, "incidents/comms/oncall.html", context, status=400)
    return redirect(f"{request.path}?done={done}")


def _rotation_of(post) -> OnCallRotation:
    rotation = OnCallRotation.objects.filter(pk=post.get("rotation") or 0).first()
    if rotation is None:
        raise DomainError("no such rotation", field="rotation")
    return rotation


def _hours(post) -> float:
    try:
        return float(post.get("shift_hours") or 0)
    except ValueError:
        raise DomainError("a number of hours", field="shift_hours") from None


def _oncall_action(request: HttpRequest, action: str, post) -> str:
    me = request.user
    if action in PERSONAL_ONCALL_ACTIONS:
        return PERSONAL_ONCALL_ACTIONS[action](me, post)
    if not has_role(me, "commander"):
        raise PermissionDenied("needs the commander role")
    if action in COMMANDER_ONCALL_ACTIONS:
        return COMMANDER_ONCALL_ACTIONS[action](post)
    raise DomainError("unknown action")


def _feed_create(me, post) -> str:
    rotation = _rotation_of(post) if post.get("rotation") else None
    schedule.feed_create(actor=me, user=None if rotation else me, rotation=rotation)
    return "feed-created"


def _feed_revoke(me, post) -> str:
    feed = CalendarFeed.objects.filter(pk=post.get("feed") or 0).first()
    if feed is None or (feed.user_id != me.pk and not has_role(me, "commander")):
        raise DomainError("no such calendar feed", field="feed")
    schedule.feed_revoke(feed)
    return "feed-revoked"


def _override_add(me, post) -> str:
    schedule.override_request(
        actor=me,
        rotation=_rotation_of(post),
        username=post.get("user", ""),
        starts_at=_when(post.get("starts_at")),
        ends_at=_when(post.get("ends_at")),
    )
    return "override-added"


def _rotation_save(post) -> str:
    rotation = _rotation_of(post) if post.get("rotation") else None
    schedule.rotation_save(
        name=post.get("name", ""),
        handoff_at=_when(post.get("handoff_at")),
        shift_hours=_hours(post),
        rotation=rotation,
    )
    return "rotation-saved"


def _rotation_delete(post) -> str:
    _rotation_of(post).delete()
    return "rotation-deleted"


def _member_add(post) -> str:
    schedule.member_add(rotation=_rotation_of(post), username=post.get("user", ""))
    return "member-added"


def _member_change(post, action: str) -> str:
    member = OnCallMember.objects.filter(pk=post.get("member") or 0).first()
    if member is None:
        raise DomainError("no such member", field="member")
    if action == "member-remove":
        member.delete()
    else:
        schedule.member_move(member=member, up=action == "member-up")
    return "members-changed"


def _override_remove(post) -> str:
    OnCallOverride.objects.filter(pk=post.get("override") or 0).delete()
    return "override-removed"


def _target_add(post) -> str:
    level = EscalationLevel.objects.filter(pk=post.get("level") or 0).first()
    if level is None:
        raise DomainError("no such level", field="level")
    if post.get("rotation"):
        schedule.target_add(level=level, rotation=_rotation_of(post))
    else:
        schedule.target_add(level=level, username=post.get("user", ""))
    return "target-added"


def _target_remove(post) -> str:
    EscalationTarget.objects.filter(pk=post.get("target") or 0).delete()
    return "target-removed"


# What anyone with a role may do for themselves (each handler checks the rest), and what needs a commander.
PERSONAL_ONCALL_ACTIONS = {"feed-create": _feed_create, "feed-revoke": _feed_revoke, "override-add": _override_add}
COMMANDER_ONCALL_ACTIONS = {
    "rotation-save": _rotation_save,
    "rotation-delete": _rotation_delete,
    "member-add": _member_add,
    **{
        action: (lambda post, action=action: _member_change(post, action))
        for action in ("member-up", "member-down", "member-remove")
    },
    "override-remove": _override_remove,
    "target-add": _target_add,
    "target-remove": _target_remove,
}


@login_not_required
def calendar_feed(request: HttpRequest, token: str) -> HttpResponse:
    """The iCalendar feed behind a secret-token URL; a revoked or unknown token is a 404."""
    feed = CalendarFeed.objects.filter(token=token, revoked_at=None).select_related("user", "rotation").first()
    if feed is None:
        return HttpResponse("No such calendar: the link was revoked or never existed.\n", status=404)
    response = HttpResponse(ical.feed_calendar(feed), content_type="text/calendar; charset=utf-8")
    response["Cache-Control"] = "private, max-age=300"
    return response

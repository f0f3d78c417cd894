"""People API: profiles (name, role, contact methods, notification rules), contact methods verified by
a code. Anyone with a role reads the people; contact addresses are shown to the person and to admins
only. A person edits their own profile and methods; an admin anyone's, and only an admin adds people
or changes a role."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from incidents.comms import people
from incidents.comms.models import ContactKind, ContactMethod, Urgency
from pitchey_incidents.drf import validated
from pitchey_incidents.roles import ROLES, has_role, remember_roles, role_of

# The API's names for the kinds of contact method (ntfy is ``push`` inside).
KINDS = {
    "email": ContactKind.EMAIL,
    "ntfy": ContactKind.PUSH,
    "sms": ContactKind.SMS,
    "slack": ContactKind.SLACK,
    "webhook": ContactKind.WEBHOOK,
}
KIND_NAMES = {inside: name for name, inside in KINDS.items()}
KIND_CHOICES = list(KINDS)  # the schema's ContactKindEnum


class ContactMethodSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    kind = serializers.ChoiceField(choices=KIND_CHOICES)
    address = serializers.CharField(
        max_length=300,
        allow_null=True,
        help_text="Email address, ntfy topic, phone number (+E.164), Slack member ID or webhook URL. "
        "Null unless the caller is the person or an admin; a webhook's query string is never shown.",
    )
    server = serializers.CharField(
        max_length=200, required=False, allow_blank=True, write_only=True, help_text="ntfy: the server's base URL."
    )
    token = serializers.CharField(
        max_length=200, required=False, allow_blank=True, write_only=True, help_text="ntfy: an access token."
    )
    verified = serializers.BooleanField(
        read_only=True, help_text="A code sent there came back, and it has not failed for good since: it is paged."
    )


class ContactMethodAddSerializer(ContactMethodSerializer):
    address = serializers.CharField(max_length=300)


class RuleSerializer(serializers.Serializer):
    urgency = serializers.ChoiceField(choices=Urgency.choices)
    after_s = serializers.IntegerField(min_value=0, max_value=86400, help_text="Seconds after the page.")
    method = serializers.IntegerField(min_value=1, max_value=2**31 - 1, help_text="One of the person's methods (id).")


class PersonSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    name = serializers.CharField(max_length=150, allow_blank=True)
    role = serializers.ChoiceField(choices=ROLES, allow_null=True)
    contact_methods = ContactMethodSerializer(many=True, read_only=True)
    rules = RuleSerializer(many=True, read_only=True)


class PersonCreateSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    role = serializers.ChoiceField(choices=ROLES)


class PersonPatchSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    role = serializers.ChoiceField(choices=ROLES, required=False, help_text="An admin only.")
    rules = RuleSerializer(many=True, required=False, max_length=50, help_text="Replaces all of the person's rules.")


class ContactMethodVerifySerializer(serializers.Serializer):
    code = serializers.CharField(max_length=12)


def method_body(method: ContactMethod, shown: bool) -> dict:
    address = method.address.split("?")[0] if method.kind == ContactKind.WEBHOOK else method.address
    return {"id": method.pk, "kind": KIND_NAMES[method.kind], "address": address if shown else None}


def person_body(person, viewer) -> dict:
    shown = viewer.pk == person.pk or has_role(viewer, "admin")
    methods = [
        {**method_body(m, shown), "verified": m.pageable} for m in sorted(person.contact_methods.all(), key=_by_id)
    ]
    rules = sorted(person.notification_rules.all(), key=lambda r: (r.urgency, r.delay_s, r.pk))
    return {
        "username": person.get_username(),
        "name": person.get_full_name(),
        "role": role_of(person),
        "contact_methods": methods,
        "rules": [{"urgency": r.urgency, "after_s": r.delay_s, "method": r.method_id} for r in rules],
    }


def _by_id(method: ContactMethod) -> int:
    return method.pk


def people_queryset():
    return (
        get_user_model()
        .objects.filter(is_active=True)
        .prefetch_related("groups", "contact_methods", "notification_rules")
        .order_by("username")
    )


def person_or_404(username: str):
    if "\x00" in username:  # no username has one, and PostgreSQL text cannot hold it
        raise Http404("No such person.")
    person = get_object_or_404(people_queryset(), username=username)
    remember_roles(person, {g.name for g in person.groups.all()})
    return person


def answer(person, request: Request, code: int = status.HTTP_200_OK) -> Response:
    return Response(PersonSerializer(person_body(person_or_404(person.get_username()), request.user)).data, status=code)


class PersonListView(APIView):
    """Everyone with an account. An admin adds people (no password: ``manage.py createuser`` gives a token)."""

    write_role = "admin"

    @extend_schema(responses=PersonSerializer(many=True))
    def get(self, request: Request) -> Response:
        found = list(people_queryset())
        for person in found:
            remember_roles(person, {g.name for g in person.groups.all()})
        return Response(PersonSerializer([person_body(p, request.user) for p in found], many=True).data)

    @extend_schema(request=PersonCreateSerializer, responses={201: PersonSerializer})
    def post(self, request: Request) -> Response:
        person = people.person_create(**validated(PersonCreateSerializer, request))
        return answer(person, request, status.HTTP_201_CREATED)


class PersonDetailView(APIView):
    """One person. ``PATCH`` changes the name, the role (an admin only) and the notification rules."""

    write_role = "viewer"  # their own; the service refuses anyone else's unless the caller is an admin

    @extend_schema(responses=PersonSerializer)
    def get(self, request: Request, username: str) -> Response:
        return Response(PersonSerializer(person_body(person_or_404(username), request.user)).data)

    @extend_schema(request=PersonPatchSerializer, responses=PersonSerializer)
    def patch(self, request: Request, username: str) -> Response:
        person = person_or_404(username)
        people.person_may_edit(request.user, person)
        data = validated(PersonPatchSerializer, request)
        return answer(people.person_update(actor=request.user, person=person, **data), request)


class ContactMethodListView(APIView):
    """Add a contact method: a code is sent to it (a Slack member ID an admin adds is verified at once)."""

    write_role = "viewer"

    @extend_schema(request=ContactMethodAddSerializer, responses={201: ContactMethodSerializer})
    def post(self, request: Request, username: str) -> Response:
        person = person_or_404(username)
        people.person_may_edit(request.user, person)
        data = validated(ContactMethodAddSerializer, request)
        method = people.contact_method_create(actor=request.user, user=person, **{**data, "kind": KINDS[data["kind"]]})
        body = {**method_body(method, True), "verified": method.pageable}
        return Response(ContactMethodSerializer(body).data, status=status.HTTP_201_CREATED)


class ContactMethodActionView(APIView):
    write_role = "viewer"

    def method_of(self, request: Request, username: str, pk: int) -> ContactMethod:
        person = person_or_404(username)
        people.person_may_edit(request.user, person)
        return get_object_or_404(ContactMethod, user=person, pk=pk)

    def answer(self, method: ContactMethod) -> Response:
        return Response(ContactMethodSerializer({**method_body(method, True), "verified": method.pageable}).data)


class ContactMethodVerifyView(ContactMethodActionView):
    """The code the method received: from now on it is paged."""

    @extend_schema(request=ContactMethodVerifySerializer, responses=ContactMethodSerializer)
    def post(self, request: Request, username: str, pk: int) -> Response:
        method = self.method_of(request, username, pk)
        code = validated(ContactMethodVerifySerializer, request)["code"]
        return self.answer(people.contact_method_verify(method, code))


class ContactMethodSendCodeView(ContactMethodActionView):
    """Send a new code (one is good for an hour; a method that failed for good is verified again)."""

    @extend_schema(request=None, responses=ContactMethodSerializer)
    def post(self, request: Request, username: str, pk: int) -> Response:
        return self.answer(people.contact_method_send_code(self.method_of(request, username, pk)))

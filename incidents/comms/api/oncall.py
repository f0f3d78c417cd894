"""On-call API: ``GET /api/v1/oncall/`` (who is on call now, the emergency contacts), the rotations and
their overrides, and the escalation levels (whom each level pages, and when)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from incidents.comms import oncall, schedule
from incidents.comms.models import OnCallOverride, OnCallRotation
from incidents.lifecycle.models import EscalationLevel
from pitchey_incidents.drf import validated
from pitchey_incidents.roles import has_role


class OnCallSerializer(serializers.Serializer):
    rotation = serializers.CharField()
    user = serializers.CharField(allow_null=True)
    override = serializers.BooleanField()
    until = serializers.DateTimeField(allow_null=True)
    next = serializers.CharField(allow_null=True)


class EmergencyContactSerializer(serializers.Serializer):
    role = serializers.CharField()
    contact = serializers.CharField()
    availability = serializers.CharField()


class OnCallOverviewSerializer(serializers.Serializer):
    rotations = OnCallSerializer(many=True)
    emergency_contacts = EmergencyContactSerializer(many=True)


class OnCallView(APIView):
    read_role = "viewer"

    @extend_schema(responses=OnCallOverviewSerializer)
    def get(self, request: Request) -> Response:
        data = {"rotations": oncall.oncall_overview(), "emergency_contacts": oncall.emergency_contacts()}
        return Response(OnCallOverviewSerializer(data).data)


# --- rotations and overrides ------------------------------------------------------------------------


class RotationSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=80)
    handoff_at = serializers.DateTimeField(help_text="The first member's first shift starts here.")
    shift_s = serializers.IntegerField(min_value=3600, max_value=28 * 86400, help_text="Length of one shift.")
    members = serializers.ListField(
        child=serializers.CharField(max_length=150), max_length=100, help_text="Usernames, in turn order."
    )
    oncall = serializers.CharField(read_only=True, allow_null=True, help_text="Who is on call now.")


def rotation_body(rotation: OnCallRotation, now) -> dict:
    return {
        "id": rotation.pk,
        "name": rotation.name,
        "handoff_at": rotation.handoff_at,
        "shift_s": rotation.shift_s,
        "members": [m.user.get_username() for m in rotation.members.all()],
        "oncall": oncall.oncall_now(rotation, now)["user"],
    }


class RotationListView(APIView):
    """On-call rotations: members take turns of ``shift_s`` from ``handoff_at``. A commander creates them."""

    write_role = "commander"

    @extend_schema(responses=RotationSerializer(many=True))
    def get(self, request: Request) -> Response:
        now = timezone.now()
        return Response(RotationSerializer([rotation_body(r, now) for r in oncall.rotations_at(now)], many=True).data)

    @extend_schema(request=RotationSerializer, responses={201: RotationSerializer})
    def post(self, request: Request) -> Response:
        rotation = schedule.rotation_create(**validated(RotationSerializer, request))
        now = timezone.now()
        body = rotation_body(oncall.rotations_at(now).get(pk=rotation.pk), now)
        return Response(RotationSerializer(body).data, status=status.HTTP_201_CREATED)


class OverrideSerializer(serializers.ModelSerializer):
    rotation = serializers.IntegerField(source="rotation_id", read_only=True)
    user = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = OnCallOverride
        fields = ["id", "rotation", "user", "starts_at", "ends_at"]
        read_only_fields = fields


class OverrideAddSerializer(serializers.Serializer):
    user = serializers.CharField(
        max_length=150, required=False, allow_blank=True, help_text="Who covers; absent: the caller."
    )
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()


class OverrideListView(APIView):
    """A rotation's overrides that have not ended. A responder covers a rotation themselves; a
    commander sets anyone to cover."""

    write_role = "responder"

    @extend_schema(responses=OverrideSerializer(many=True))
    def get(self, request: Request, pk: int) -> Response:
        rotation = get_object_or_404(OnCallRotation, pk=pk)
        overrides = rotation.overrides.filter(ends_at__gt=timezone.now()).select_related("user")
        return Response(OverrideSerializer(overrides.order_by("starts_at", "id"), many=True).data)

    @extend_schema(request=OverrideAddSerializer, responses={201: OverrideSerializer})
    def post(self, request: Request, pk: int) -> Response:
        rotation = get_object_or_404(OnCallRotation, pk=pk)
        data = validated(OverrideAddSerializer, request)
        override = schedule.override_request(
            actor=request.user,
            rotation=rotation,
            username=data.get("user", ""),
            starts_at=data["starts_at"],
            ends_at=data["ends_at"],
        )
        return Response(OverrideSerializer(override).data, status=status.HTTP_201_CREATED)


# --- escalation levels --------------------------------------------------------------------------------


class TargetSerializer(serializers.Serializer):
    """Exactly one of ``user`` (a username) and ``rotation`` (a rotation's id: whoever is on call there)."""

    user = serializers.CharField(max_length=150, required=False)
    rotation = serializers.IntegerField(min_value=1, max_value=2**31 - 1, required=False)

    def validate(self, attrs: dict) -> dict:
        if ("user" in attrs) == ("rotation" in attrs):
            raise serializers.ValidationError("either user or rotation")
        return attrs


class EscalationLevelSerializer(serializers.Serializer):
    level = serializers.IntegerField(min_value=1, max_value=schedule.MAX_LEVELS)
    name = serializers.CharField(max_length=80)
    after_s = serializers.IntegerField(
        min_value=0, max_value=schedule.MAX_LEVEL_DELAY_S, help_text="Seconds after declaration, while unacknowledged."
    )
    targets = TargetSerializer(many=True, max_length=50)


def levels_body() -> list[dict]:
    levels = EscalationLevel.objects.prefetch_related("targets__user").order_by("level")
    return [
        {
            "level": level.level,
            "name": level.name,
            "after_s": level.delay_s,
            "targets": [
                {"user": t.user.get_username()} if t.user_id else {"rotation": t.rotation_id}
                for t in sorted(level.targets.all(), key=lambda t: t.pk)
            ],
        }
        for level in levels
    ]


class EscalationLevelsView(APIView):
    """The escalation policy, replaced as a whole by ``PUT`` (all of it or nothing). A commander
    changes whom each level pages; an admin also the levels, their names and times."""

    write_role = "commander"

    @extend_schema(responses=EscalationLevelSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(levels_body())

    @extend_schema(request=EscalationLevelSerializer(many=True), responses=EscalationLevelSerializer(many=True))
    def put(self, request: Request) -> Response:
        levels = validated(EscalationLevelSerializer, request, many=True, min_length=1, max_length=schedule.MAX_LEVELS)
        schedule.levels_replace(levels, may_retime=has_role(request.user, "admin"))
        return Response(levels_body())

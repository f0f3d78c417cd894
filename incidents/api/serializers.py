from __future__ import annotations

from rest_framework import serializers

from incidents.lifecycle.models import Incident, Mitigation, PublicStatus, TimelineEntry
from recovery.actions import ACTION_NAMES
from recovery.models import Service, Severity


class IncidentSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    services = serializers.SerializerMethodField()
    commander = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = Incident
        fields = [
            "id",
            "severity",
            "title",
            "description",
            "status",
            "public_status",
            "services",
            "commander",
            "source",
            "declared_at",
            "acknowledged_at",
            "resolved_at",
            "escalation_level",
            "resolution",
            "url",
        ]
        read_only_fields = fields

    def get_services(self, obj: Incident) -> list[str]:
        return [s.slug for s in obj.services.all()]

    def get_commander(self, obj: Incident) -> str | None:
        return obj.commander.get_username() if obj.commander_id else None

    def get_url(self, obj: Incident) -> str:
        request = self.context.get("request")
        path = f"/incidents/{obj.public_id}/"  # incidents:detail, without a reverse() per row
        return request.build_absolute_uri(path) if request else path


class DeclareSerializer(serializers.Serializer):
    severity = serializers.ChoiceField(choices=Severity.choices)
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=20000)
    services = serializers.ListField(child=serializers.SlugField(), required=False, default=list)


class AssignSerializer(serializers.Serializer):
    commander = serializers.CharField(max_length=150)


class SeveritySerializer(serializers.Serializer):
    severity = serializers.ChoiceField(choices=Severity.choices)
    reason = serializers.CharField(max_length=1000)


class UpdateSerializer(serializers.Serializer):
    public_status = serializers.ChoiceField(choices=[c for c in PublicStatus.choices if c[0] != "resolved"])
    message = serializers.CharField(max_length=5000)


class ResolveSerializer(serializers.Serializer):
    resolution = serializers.CharField(max_length=5000)


class EscalateSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=1000)


class MitigationRequestSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=ACTION_NAMES)
    params = serializers.DictField(required=False, default=dict)
    dry_run = serializers.BooleanField(required=False, default=False)


class ActionParamSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.ChoiceField(choices=["str", "int", "bool", "choice", "list"])
    required = serializers.BooleanField()
    default = serializers.JSONField(allow_null=True)
    help = serializers.CharField()
    choices = serializers.ListField(child=serializers.CharField())


class ActionSerializer(serializers.Serializer):
    """A mitigation action as ``GET /api/v1/actions/`` lists it (``Action.describe``)."""

    name = serializers.ChoiceField(choices=ACTION_NAMES)
    label = serializers.CharField()
    description = serializers.CharField()
    destructive = serializers.BooleanField()
    available = serializers.BooleanField()
    unavailable_reason = serializers.CharField(allow_null=True)
    params = ActionParamSerializer(many=True)


class TimelineEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = TimelineEntry
        fields = ["id", "at", "kind", "actor", "message", "data"]


class MitigationSerializer(serializers.ModelSerializer):
    incident = serializers.CharField(source="incident.public_id", read_only=True)

    class Meta:
        model = Mitigation
        fields = [
            "id",
            "incident",
            "action",
            "params",
            "dry_run",
            "status",
            "requested_by",
            "started_at",
            "finished_at",
            "output",
        ]


class ServiceSerializer(serializers.ModelSerializer):
    health = serializers.SerializerMethodField()

    class Meta:
        model = Service
        fields = ["slug", "name", "priority", "rto_target_s", "rto_max_s", "recovery_order", "health"]

    def get_health(self, obj: Service) -> str:
        return self.context.get("health", {}).get(obj.slug, "unknown")


class SetupItemSerializer(serializers.Serializer):
    section = serializers.CharField()
    key = serializers.CharField()
    label = serializers.CharField()
    status = serializers.ChoiceField(choices=["configured", "missing"])
    set = serializers.CharField(help_text="The variable(s) to set while missing.")
    detail = serializers.CharField()
    consequence = serializers.CharField(help_text="What does not work while missing, in plain words.")
    testable = serializers.BooleanField(help_text="A test message can be sent on this channel.")


class SetupSectionSerializer(serializers.Serializer):
    name = serializers.CharField()
    items = SetupItemSerializer(many=True)


class SetupReportSerializer(serializers.Serializer):
    complete = serializers.BooleanField()
    p0_pages_nobody = serializers.BooleanField(help_text="Declaring a P0 now would reach no one.")
    missing = serializers.IntegerField()
    consequences = serializers.ListField(child=serializers.CharField())
    sections = SetupSectionSerializer(many=True)

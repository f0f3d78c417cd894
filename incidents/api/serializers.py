from __future__ import annotations

from rest_framework import serializers

from incidents.lifecycle.models import Incident, Mitigation, PublicStatus, TimelineEntry
from recovery.actions import REGISTRY
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

    def get_services(self, obj) -> list[str]:
        return [s.slug for s in obj.services.all()]

    def get_commander(self, obj) -> str | None:
        return obj.commander.get_username() if obj.commander_id else None

    def get_url(self, obj) -> str:
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
    action = serializers.ChoiceField(choices=sorted(REGISTRY))
    params = serializers.DictField(required=False, default=dict)
    dry_run = serializers.BooleanField(required=False, default=False)


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

    def get_health(self, obj) -> str:
        return self.context.get("health", {}).get(obj.slug, "unknown")

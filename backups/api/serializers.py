from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..models import Backup, BackupLocation, Kind, Restore


class LocationSerializer(serializers.ModelSerializer):
    class Meta:
        model = BackupLocation
        fields = ["tier", "uri", "created_at", "expires_at", "verified_at", "verification"]


class VerificationSerializer(serializers.Serializer):
    ok = serializers.BooleanField(allow_null=True)
    checked_at = serializers.CharField(allow_null=True)
    detail = serializers.CharField()


class BackupSerializer(serializers.ModelSerializer):
    locations = LocationSerializer(many=True, read_only=True)
    verification = serializers.SerializerMethodField()

    class Meta:
        model = Backup
        fields = [
            "id",
            "kind",
            "status",
            "trigger",
            "requested_by",
            "created_at",
            "started_at",
            "finished_at",
            "snapshot_at",
            "size_bytes",
            "uncompressed_bytes",
            "sha256",
            "compression",
            "compression_level",
            "format",
            "artifact",
            "locations",
            "verified_at",
            "verification",
            "progress",
            "error",
        ]

    def get_verification(self, backup: Backup) -> dict:
        v = backup.verification or {}
        return {
            "ok": v.get("ok"),
            "checked_at": v.get("checked_at"),
            "detail": v.get("detail", "not verified yet"),
            "restore_test": bool(v.get("restore_test")),
            "tiers": v.get("tiers", {}),
        }


class StartSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Kind.choices)


class VerifySerializer(serializers.Serializer):
    restore_test = serializers.BooleanField(default=False)


class RpoSerializer(serializers.Serializer):
    data_type = serializers.CharField()
    name = serializers.CharField()
    backup_kind = serializers.CharField()
    target_s = serializers.IntegerField()
    max_s = serializers.IntegerField()
    age_s = serializers.IntegerField(allow_null=True)
    state = serializers.ChoiceField(choices=["ok", "warning", "breach", "unknown"])


class RestoreRequestSerializer(serializers.Serializer):
    into = serializers.CharField(required=False, allow_blank=True, default="", max_length=1000)
    database_url = serializers.CharField(required=False, allow_blank=True, default="", max_length=1000)
    dry_run = serializers.BooleanField(required=False, default=False)
    force = serializers.BooleanField(required=False, default=False)
    parts = serializers.ListField(
        child=serializers.ChoiceField(choices=["database", "config", "media", "sessions"]), required=False, default=list
    )


class ChangesSerializer(serializers.Serializer):
    added = serializers.ListField(child=serializers.CharField())
    replaced = serializers.ListField(child=serializers.CharField())
    removed = serializers.ListField(child=serializers.CharField())


class RestoreSerializer(serializers.ModelSerializer):
    changes = serializers.SerializerMethodField()

    class Meta:
        model = Restore
        fields = [
            "id",
            "backup",
            "kind",
            "status",
            "dry_run",
            "force",
            "into",
            "parts",
            "requested_by",
            "changes",
            "detail",
            "error",
            "progress",
            "created_at",
            "started_at",
            "finished_at",
        ]

    @extend_schema_field(ChangesSerializer)
    def get_changes(self, row: Restore) -> dict:
        return {key: list(row.changes.get(key, [])) for key in ("added", "replaced", "removed")}

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


class PitrRestoreSerializer(serializers.Serializer):
    to_time = serializers.CharField(help_text="ISO 8601 (UTC unless it says otherwise) or 'latest'")
    port = serializers.IntegerField(required=False, min_value=1024, max_value=65535)


class PitrRestoredSerializer(serializers.Serializer):
    base_backup = serializers.IntegerField()
    target = serializers.CharField()
    datadir = serializers.CharField()
    port = serializers.IntegerField()
    url = serializers.CharField()
    stopped_at = serializers.CharField(allow_null=True)
    complete = serializers.BooleanField()
    missing_segment = serializers.CharField(allow_null=True)
    segments = serializers.IntegerField()
    detail = serializers.CharField()
    duration_s = serializers.FloatField()
    stop = serializers.CharField()


class PitrSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    slot = serializers.CharField(required=False)
    state = serializers.CharField(required=False)
    base_backup_at = serializers.DateTimeField(allow_null=True)
    wal_received_at = serializers.DateTimeField(allow_null=True)
    lag_s = serializers.FloatField(allow_null=True, required=False)
    slot_lag_bytes = serializers.IntegerField(allow_null=True, required=False)
    gap_open = serializers.BooleanField(required=False)
    gap_recent = serializers.BooleanField(required=False)
    gap_at = serializers.DateTimeField(allow_null=True, required=False)
    gap_detail = serializers.CharField(required=False)


class RpoSerializer(serializers.Serializer):
    data_type = serializers.CharField()
    name = serializers.CharField()
    backup_kind = serializers.CharField()
    target_s = serializers.IntegerField()
    max_s = serializers.IntegerField()
    age_s = serializers.IntegerField(allow_null=True)
    state = serializers.ChoiceField(choices=["ok", "warning", "breach", "unknown"])
    pitr = PitrSerializer(required=False, help_text="The database row only: continuous archiving.")


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

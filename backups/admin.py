from django.contrib import admin

from . import models


@admin.register(models.DataType)
class DataTypeAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "rpo_target_s", "rpo_max_s", "backup_frequency", "backup_kind"]


@admin.register(models.BackupPolicy)
class BackupPolicyAdmin(admin.ModelAdmin):
    list_display = ["kind", "every_s", "local_days", "cloud_days", "archive_days", "compression", "level"]


class LocationInline(admin.TabularInline):
    model = models.BackupLocation
    extra = 0
    fields = ["tier", "uri", "expires_at", "verified_at"]
    readonly_fields = fields
    can_delete = False


@admin.register(models.Backup)
class BackupAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "status", "trigger", "snapshot_at", "size_bytes", "verified_at"]
    list_filter = ["kind", "status", "trigger"]
    readonly_fields = [f.name for f in models.Backup._meta.fields]
    inlines = [LocationInline]

    def has_add_permission(self, request) -> bool:
        return False  # backups are taken through the service (CLI, API, page, schedule)


@admin.register(models.RetentionPause)
class RetentionPauseAdmin(admin.ModelAdmin):
    list_display = ["reason", "created_at", "expires_at"]

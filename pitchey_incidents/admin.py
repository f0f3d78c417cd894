from django.contrib import admin

from . import models


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by services (state changes, records of what happened): shown, never edited here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(models.AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ["at", "actor", "action", "target", "dry_run"]
    list_filter = ["action", "dry_run"]
    readonly_fields = ["at", "actor", "action", "target", "dry_run", "data"]

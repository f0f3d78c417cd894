from django.contrib import admin

from . import models


@admin.register(models.AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["at", "actor", "action", "target", "dry_run"]
    list_filter = ["action", "dry_run"]
    readonly_fields = ["at", "actor", "action", "target", "dry_run", "data"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

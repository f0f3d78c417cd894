"""The admin: lifecycle's models here (escalation levels show comms' targets inline); each
sub-package's own models in its ``admin.py``, loaded from here (the module Django's admin looks for)."""

from django.contrib import admin

from incidents.comms import admin as comms_admin  # noqa: F401  (outbox, on-call)
from incidents.comms import models as comms
from incidents.detection import admin as detection_admin  # noqa: F401  (alert sources, probes, rules)
from incidents.lifecycle import models


class CommunicationRuleInline(admin.TabularInline):
    model = comms.CommunicationRule
    extra = 0


@admin.register(models.SeverityPolicy)
class SeverityPolicyAdmin(admin.ModelAdmin):
    list_display = ["severity", "name", "response_time_s", "auto_page", "slack_channel"]
    inlines = [CommunicationRuleInline]


class EscalationTargetInline(admin.TabularInline):
    model = comms.EscalationTarget
    extra = 0


@admin.register(models.EscalationLevel)
class EscalationLevelAdmin(admin.ModelAdmin):
    list_display = ["level", "name", "delay_s"]
    inlines = [EscalationTargetInline]


@admin.register(comms.EmergencyContact)
class EmergencyContactAdmin(admin.ModelAdmin):
    list_display = ["role", "contact", "availability", "order"]


class TimelineInline(admin.TabularInline):
    model = models.TimelineEntry
    extra = 0
    can_delete = False
    readonly_fields = ["at", "kind", "actor", "message", "data"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(models.Incident)
class IncidentAdmin(admin.ModelAdmin):
    """Read-only: incident state changes go through the lifecycle services (dashboard, API, CLI)."""

    list_display = ["public_id", "severity", "title", "status", "commander", "declared_at"]
    list_filter = ["status", "severity", "source"]
    search_fields = ["title", "description"]
    inlines = [TimelineInline]

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False


@admin.register(models.Mitigation)
class MitigationAdmin(admin.ModelAdmin):
    list_display = ["id", "incident", "action", "status", "requested_by", "started_at", "finished_at"]
    list_filter = ["status", "action"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False

from django.contrib import admin

from incidents.comms import models as comms
from incidents.lifecycle import models


class CommunicationRuleInline(admin.TabularInline):
    model = models.CommunicationRule
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


@admin.register(models.EmergencyContact)
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


class OnCallMemberInline(admin.TabularInline):
    model = comms.OnCallMember
    extra = 0


class OnCallOverrideInline(admin.TabularInline):
    model = comms.OnCallOverride
    extra = 0


@admin.register(comms.OnCallRotation)
class OnCallRotationAdmin(admin.ModelAdmin):
    list_display = ["name", "handoff_at", "shift_s"]
    inlines = [OnCallMemberInline, OnCallOverrideInline]


@admin.register(comms.Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["id", "incident", "channel", "target", "kind", "status", "attempts", "created_at", "sent_at"]
    list_filter = ["status", "channel", "kind"]
    readonly_fields = [f.name for f in comms.Notification._meta.fields]


from incidents.detection import admin as admin_detection  # noqa: E402, F401  (detection models)

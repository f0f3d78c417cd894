"""Admin for detection: alert sources (secrets never shown), probes, assessment rules, history."""

from django.contrib import admin

from incidents.detection import models
from pitchey_incidents.admin import ReadOnlyAdmin


@admin.register(models.AlertSource)
class AlertSourceAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "enabled", "default_severity", "auto_resolve_after_s", "created_at"]
    list_filter = ["kind", "enabled"]
    exclude = ["secret_hash"]
    readonly_fields = ["name", "kind", "created_at"]

    def has_add_permission(self, request):
        return False  # `manage.py alertsource create` prints the secret once


@admin.register(models.Probe)
class ProbeAdmin(admin.ModelAdmin):
    list_display = ["name", "label", "kind", "service", "enabled"]
    list_filter = ["kind", "service", "enabled"]


@admin.register(models.AssessmentRule)
class AssessmentRuleAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "severity",
        "probe_kind",
        "probe_name",
        "op",
        "metric",
        "threshold",
        "chain_actions",
        "enabled",
    ]
    fields = [
        "name",
        "probe_kind",
        "probe_name",
        "op",
        "metric",
        "threshold",
        "severity",
        "chain",
        "settle_s",
        "no_chain_reason",
        "enabled",
    ]
    list_filter = ["severity", "probe_kind", "enabled"]
    list_editable = ["enabled"]

    @admin.display(description="chain")
    def chain_actions(self, rule: models.AssessmentRule) -> str:
        return " → ".join(rule.actions) or f"none: {rule.no_chain_reason}"


@admin.register(models.ProbeResult)
class ProbeResultAdmin(ReadOnlyAdmin):
    list_display = ["at", "probe", "status", "latency_ms", "detail"]
    list_filter = ["status", "probe"]


@admin.register(models.AlertGroup)
class AlertGroupAdmin(ReadOnlyAdmin):
    list_display = ["source", "key", "incident", "open", "last_alert_at", "all_resolved_at"]
    list_filter = ["open", "source"]


@admin.register(models.Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ["identity", "group", "status", "severity", "summary", "received", "last_seen"]
    list_filter = ["status", "severity"]

from django.contrib import admin

from . import models


@admin.register(models.Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "priority", "rto_target_s", "rto_max_s", "recovery_order"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(models.RuntimeFlag)
class RuntimeFlagAdmin(admin.ModelAdmin):
    list_display = ["name", "enabled", "changed_at", "changed_by"]


class PlanStepInline(admin.TabularInline):
    model = models.PlanStep
    extra = 0
    fields = [
        "position",
        "name",
        "title",
        "service",
        "action",
        "params",
        "on_failure",
        "fallback",
        "only_as_fallback",
        "requires",
        "verify_action",
        "verify_params",
    ]


@admin.register(models.RecoveryPlan)
class RecoveryPlanAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "service", "is_drill"]
    list_filter = ["is_drill"]
    inlines = [PlanStepInline]


class RunStepInline(admin.TabularInline):
    model = models.RunStep
    extra = 0
    can_delete = False
    fields = ["position", "name", "service", "action", "status", "attempts", "started_at", "finished_at", "output"]
    readonly_fields = fields


class ObjectiveInline(admin.TabularInline):
    model = models.Objective
    extra = 0
    can_delete = False
    fields = ["kind", "subject", "target_s", "max_s", "achieved_s", "met"]
    readonly_fields = fields


@admin.register(models.RecoveryRun)
class RecoveryRunAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "plan", "status", "dry_run", "incident", "started_at", "finished_at", "deviated"]
    list_filter = ["kind", "status", "dry_run"]
    readonly_fields = [f.name for f in models.RecoveryRun._meta.fields]
    inlines = [RunStepInline, ObjectiveInline]

    def has_add_permission(self, request):
        return False  # runs start through the service (CLI, API, page), never as bare rows

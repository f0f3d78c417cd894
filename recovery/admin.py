from django.contrib import admin

from . import models


@admin.register(models.RuntimeFlag)
class RuntimeFlagAdmin(admin.ModelAdmin):
    list_display = ["name", "enabled", "changed_at", "changed_by"]

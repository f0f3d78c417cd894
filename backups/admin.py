from django.contrib import admin

from . import models


@admin.register(models.DataType)
class DataTypeAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "rpo_target_s", "rpo_max_s", "backup_frequency", "backup_kind"]

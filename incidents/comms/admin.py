"""Admin for comms: on-call rotations, and the notification outbox (read-only)."""

from django.contrib import admin

from incidents.comms import models as comms


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

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


@admin.register(comms.ContactMethod)
class ContactMethodAdmin(admin.ModelAdmin):
    """People verify their own methods on /people/me/; here an admin sees them and can stop one."""

    list_display = ["user", "kind", "display_address", "verified_at", "failed_at"]
    list_filter = ["kind"]
    exclude = ["token", "verification_code"]
    readonly_fields = ["verified_at", "verification_sent_at", "created_at"]


@admin.register(comms.NotificationRule)
class NotificationRuleAdmin(admin.ModelAdmin):
    list_display = ["user", "urgency", "method", "delay_s"]
    list_filter = ["urgency"]


@admin.register(comms.CalendarFeed)
class CalendarFeedAdmin(admin.ModelAdmin):
    list_display = ["user", "rotation", "created_by", "created_at", "revoked_at"]
    exclude = ["token"]

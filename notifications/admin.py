from django.contrib import admin

from notifications.models import Notification, NotificationPreference


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("created_at", "recipient", "kind", "item", "actor", "read_at")
    list_filter = ("kind",)
    raw_id_fields = ("recipient", "item", "case", "note", "actor")


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ("user", "email")
    raw_id_fields = ("user",)

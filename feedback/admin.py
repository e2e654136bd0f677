from django.contrib import admin, messages
from django.db import transaction
from django.utils import timezone

from feedback.models import ApiKey, Author, Feed, Source
from privacy.admin import erase_posts


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "kind", "active", "created_at"]
    list_filter = ["kind", "active"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Author)
class AuthorAdmin(admin.ModelAdmin):
    list_display = ["handle", "name", "source", "followers", "created_at"]
    list_filter = ["source"]
    list_select_related = ["source"]
    search_fields = ["handle", "name"]
    show_full_result_count = False
    actions = [erase_posts]

    def has_delete_permission(self, request, obj=None) -> bool:
        # A plain delete would keep the person's posts (the item's author is set to null):
        # removing someone goes through the erasure, which removes the posts too.
        return False

    def has_erase_permission(self, request) -> bool:
        return request.user.has_perm("feedback.delete_author")


@admin.register(Feed)
class FeedAdmin(admin.ModelAdmin):
    list_display = [
        "url",
        "source",
        "active",
        "poll_interval",
        "last_status",
        "consecutive_failures",
        "last_polled_at",
        "next_poll_at",
    ]
    list_filter = ["active", "last_status", "source"]
    search_fields = ["url", "source__name", "source__slug"]
    list_select_related = ["source"]
    autocomplete_fields = ["source"]
    actions = ["poll_now"]
    fieldsets = [
        (None, {"fields": ["source", "url", "active", "poll_interval"]}),
        (
            "Last poll",
            {
                "fields": [
                    "last_status",
                    "last_error",
                    "consecutive_failures",
                    "last_polled_at",
                    "last_success_at",
                    "next_poll_at",
                    "etag",
                    "last_modified",
                    "created_at",
                ]
            },
        ),
    ]
    # Written only by the poller; editing them by hand would confuse the schedule and the
    # conditional GET.
    readonly_fields = [
        "last_status",
        "last_error",
        "consecutive_failures",
        "last_polled_at",
        "last_success_at",
        "next_poll_at",
        "etag",
        "last_modified",
        "created_at",
    ]

    def save_model(self, request, obj, form, change):
        if change and "url" in form.changed_data:
            # The validators belong to the old address; sending them to the new one could
            # earn a 304 for a feed never read.
            obj.etag = obj.last_modified = ""
        super().save_model(request, obj, form, change)

    @admin.action(description="Poll the selected feeds now")
    def poll_now(self, request, queryset):
        from feedback.tasks import poll_due_feeds

        # Making them due (rather than polling here) keeps the one-poller-per-feed claim and
        # keeps the admin request free of network waits.
        count = queryset.filter(active=True).update(next_poll_at=timezone.now())
        # Not delay_on_commit: a broker outage must not turn the committed change into an
        # error page (robust=True); beat would pick the feeds up within a minute anyway.
        transaction.on_commit(poll_due_feeds.delay, robust=True)
        self.message_user(
            request,
            f"{count} active feed(s) will be polled within a minute.",
            messages.SUCCESS,
        )


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are created with `manage.py create_api_key` (which prints the key once); here
    they can be inspected, linked to a service user, and revoked."""

    list_display = ["name", "prefix", "source", "scopes", "acts_as", "last_used_at", "revoked_at"]
    list_filter = ["source", "revoked_at"]
    search_fields = ["name", "prefix"]
    readonly_fields = ["prefix", "digest", "created_at", "last_used_at", "revoked_at"]
    fields = ["name", "source", "scopes", "acts_as", *readonly_fields]
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False  # the raw key must be shown once, which only the command does

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        from feedback.services import apikey_revoke

        for key in queryset.filter(revoked_at=None):
            apikey_revoke(key=key)
        self.message_user(request, "Revoked.", messages.SUCCESS)

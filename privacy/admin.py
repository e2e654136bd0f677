"""Admin: the sealed departments' access log, read-only."""

from django.contrib import admin

from privacy.models import SealedAccess
from webhooks.admin import CappedCountPaginator


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by the privacy services: an audit trail nobody edits by hand."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SealedAccess)
class SealedAccessAdmin(ReadOnlyAdmin):
    list_display = ["at", "department", "viewer_name", "user", "api_key", "via", "case", "item"]
    list_filter = ["department", "via"]
    list_select_related = ["department", "user", "api_key"]
    search_fields = ["viewer_name", "=case__id", "=item__id"]
    date_hierarchy = "at"
    ordering = ["-at", "-id"]
    paginator = CappedCountPaginator  # one row per view of a sealed case: it grows for ever
    show_full_result_count = False

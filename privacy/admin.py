"""Admin: the access log and the erasure records (both read-only), and the "Erase this
person's posts" action used on Author."""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse

from privacy.models import Erasure, SealedAccess
from privacy.services import ERASED_KINDS, author_erase, erasure_summary
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


@admin.register(Erasure)
class ErasureAdmin(ReadOnlyAdmin):
    list_display = ["at", "via", "requested_by", "summary"]
    list_filter = ["via"]
    list_select_related = ["requested_by"]

    @admin.display(description="removed")
    def summary(self, obj: Erasure) -> str:
        return erasure_summary(obj.counts)


@admin.action(description="Erase this person's posts", permissions=["erase"])
def erase_posts(modeladmin, request, queryset):
    """First answer: what would go (a dry run) and a confirm button, like Django's own
    "delete selected"; the confirmed POST erases in one transaction and says how much."""
    authors = list(queryset.select_related("source").order_by("pk"))
    ids = [a.pk for a in authors]
    if request.POST.get("post") == "yes":
        result = author_erase(author_ids=ids, via=Erasure.Via.ADMIN, requested_by=request.user)
        modeladmin.message_user(
            request,
            f"Erasure #{result.erasure.pk} done: {erasure_summary(result.counts)}.",
            messages.SUCCESS,
        )
        return None
    preview = author_erase(author_ids=ids, dry_run=True)
    return TemplateResponse(
        request,
        "admin/feedback/author/erase_confirmation.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": "Erase these people's posts?",
            "opts": modeladmin.model._meta,
            "authors": authors,
            "counts": [(label, preview.counts[kind]) for kind, label in ERASED_KINDS.items()],
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        },
    )

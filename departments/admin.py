from django.contrib import admin

from departments.models import Case, CaseEvent, Department, Membership, Note, SavedView


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "slug",
        "sealed",
        "first_response_sla",
        "resolution_sla",
        "routing_threshold",
        "auto_assign",
    ]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "department", "role", "available", "max_open_cases"]
    list_filter = ["department", "role", "available"]
    search_fields = ["user__username", "user__email"]
    autocomplete_fields = ["user"]


class CaseEventInline(admin.TabularInline):
    model = CaseEvent
    extra = 0
    can_delete = False
    fields = ["created_at", "kind", "actor", "from_department", "to_department", "note"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # the timeline is append-only and written by the services


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    """Read-mostly: staff work cases in the workspace, where every change is a service call
    that writes an event."""

    list_display = [
        "pk",
        "department",
        "status",
        "assignee",
        "priority",
        "routed_by",
        "created_at",
        "due_at",
    ]
    list_filter = ["department", "status", "routed_by", "priority"]
    list_select_related = ["department", "assignee"]
    raw_id_fields = ["item", "assignee", "rule"]
    readonly_fields = [f.name for f in Case._meta.fields]
    inlines = [CaseEventInline]
    show_full_result_count = False  # no COUNT(*) over millions of rows

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Note)
class NoteAdmin(admin.ModelAdmin):
    list_display = ["pk", "item", "author", "department", "created_at"]
    raw_id_fields = ["item", "author"]


@admin.register(SavedView)
class SavedViewAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "department", "query"]

from django import forms
from django.contrib import admin

from departments.models import (
    BusinessHours,
    Case,
    CaseEvent,
    Department,
    Membership,
    Note,
    SavedView,
    SlaPolicy,
)
from departments.sla import sla_policies_ensure


class LabelledTabularInline(admin.TabularInline):
    """A tabular inline names its columns only in the table header, so a screen reader (and
    axe's `label` / `select-name` rules) finds the fields unnamed: each gets an aria-label."""

    def get_formset(self, request, obj=None, **kwargs):
        base = super().get_formset(request, obj, **kwargs)

        class Labelled(base):
            def add_fields(self, form, index):
                super().add_fields(form, index)
                for name, field in form.fields.items():
                    label = "Delete" if name == "DELETE" else str(field.label or name)
                    field.widget.attrs.setdefault("aria-label", label)

        return Labelled


class MembershipInline(LabelledTabularInline):
    model = Membership
    extra = 1
    # A raw id with its lookup rather than the select2 autocomplete: select2's combobox
    # has no accessible name in an empty row (axe: aria-input-field-name).
    raw_id_fields = ["user"]


class SlaPolicyInline(LabelledTabularInline):
    model = SlaPolicy
    extra = 0
    fields = ["priority", "first_response", "resolution"]
    verbose_name_plural = (
        "SLA policies (durations as [DD] [HH:[MM:]]ss, e.g. 01:00:00 for an hour; "
        "missing priorities are added from the defaults on save)"
    )


class BusinessHoursForm(forms.ModelForm):
    weekdays = forms.TypedMultipleChoiceField(
        choices=BusinessHours.Weekday.choices,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        initial=[0, 1, 2, 3, 4],
    )

    class Meta:
        model = BusinessHours
        fields = ["timezone", "weekdays", "start", "end"]


class BusinessHoursInline(admin.StackedInline):
    model = BusinessHours
    form = BusinessHoursForm
    extra = 0
    max_num = 1


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
    inlines = [SlaPolicyInline, BusinessHoursInline, MembershipInline]

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        # A new department (or one whose policy rows were deleted) gets a policy for every
        # priority, from its default targets.
        sla_policies_ensure(department=form.instance)


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
        "sla_due_at",
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

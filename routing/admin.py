from django import forms
from django.contrib import admin, messages

from routing.classification import (
    ClassifierUnusable,
    check_classifier_loads,
    classifier_activate,
)
from routing.forms import rule_form_check
from routing.models import ClassifierVersion, Rule


class RuleAdminForm(forms.ModelForm):
    """The same check as the rule editor, so the admin cannot save a rule that the workers
    would refuse to load (an RE2-unsupported regex, an unknown department, ...)."""

    class Meta:
        model = Rule
        fields = ["name", "position", "enabled", "match", "conditions", "actions"]

    def clean(self):
        data = super().clean()
        if not self.errors:
            rule_form_check(self, pk=self.instance.pk)
        return data


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    """Rules are best edited in the rule editor (/rules/), which validates and dry-runs."""

    form = RuleAdminForm
    readonly_fields = ["created_by", "created_at", "updated_at"]
    list_display = ["name", "position", "enabled", "match", "updated_at"]
    list_editable = ["position", "enabled"]
    list_filter = ["enabled"]


@admin.register(ClassifierVersion)
class ClassifierVersionAdmin(admin.ModelAdmin):
    list_display = ["version", "active", "created_at", "activated_at", "notes"]
    list_filter = ["active"]
    exclude = ["artifact"]
    readonly_fields = [
        "version",
        "labels",
        "thresholds",
        "metrics",
        "training_summary",
        "active",
        "created_at",
        "activated_at",
    ]
    actions = ["activate"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("artifact")

    def has_add_permission(self, request) -> bool:
        return False  # versions come from train_classifier / retrain_classifier

    @admin.action(description="Activate (or roll back to) the selected version")
    def activate(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version.", messages.ERROR)
            return
        version = queryset.get()
        try:
            check_classifier_loads(version=version)
        except ClassifierUnusable as exc:
            # Refused before anything changes: the active version keeps routing.
            self.message_user(request, f"{exc} Nothing was changed.", messages.ERROR)
            return
        classifier_activate(version=version)
        self.message_user(
            request,
            f"Version {version.version} is active; workers switch to it with their next batch.",
            messages.SUCCESS,
        )

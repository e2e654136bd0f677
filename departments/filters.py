import django_filters
from django.db.models import Q

from config.filters import UtcIsoDateTimeFilter
from departments.models import Case
from feedback.filters import search_filter
from feedback.models import FeedbackItem


class CaseFilter(django_filters.FilterSet):
    department = django_filters.CharFilter(field_name="department__slug")
    status = django_filters.MultipleChoiceFilter(distinct=False, choices=Case.Status.choices)
    priority = django_filters.MultipleChoiceFilter(
        distinct=False, choices=FeedbackItem.Priority.choices
    )
    assignee = django_filters.CharFilter(
        method="filter_assignee", help_text="A username, or `none` for unassigned."
    )
    source = django_filters.CharFilter(field_name="item__source__slug")
    language = django_filters.CharFilter(field_name="item__language", lookup_expr="iexact")
    sentiment = django_filters.ChoiceFilter(
        field_name="item__sentiment_label", choices=FeedbackItem.Sentiment.choices
    )
    tag = django_filters.CharFilter(method="filter_tag")
    since = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    sla = django_filters.ChoiceFilter(
        choices=[
            ("overdue", "Overdue"),
            ("due_soon", "Due within an hour"),
            ("breaching", "Overdue or due within an hour"),
            ("ok", "On time"),
        ],
        method="filter_sla",
    )
    q = django_filters.CharFilter(method="filter_q")
    first_response = django_filters.ChoiceFilter(
        choices=[("met", "Within SLA"), ("missed", "Missed SLA")], method="filter_sla_kind"
    )
    resolution = django_filters.ChoiceFilter(
        choices=[("met", "Within SLA"), ("missed", "Missed SLA")], method="filter_sla_kind"
    )
    routed_by = django_filters.MultipleChoiceFilter(distinct=False, choices=Case.RoutedBy.choices)

    class Meta:
        model = Case
        fields: list[str] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The queue page re-filters when one of these changes (see queue.html).
        for name in ("status", "priority", "sentiment", "sla"):
            self.form.fields[name].widget.attrs["class"] = "js-filter-change"

    def filter_assignee(self, queryset, name, value):
        if value.lower() == "none":
            return queryset.filter(assignee__isnull=True)
        return queryset.filter(assignee__username=value)

    def filter_tag(self, queryset, name, value):
        value = value.lower()
        return queryset.filter(Q(tags__contains=[value]) | Q(item__tags__contains=[value]))

    def filter_sla(self, queryset, name, value):
        from datetime import timedelta

        from django.utils import timezone

        now = timezone.now()
        open_cases = queryset.filter(status__in=Case.OPEN_STATUSES, first_response_at__isnull=True)
        if value == "overdue":
            return open_cases.filter(due_at__lt=now)
        if value == "breaching":  # the queue's "Breaching" view
            return open_cases.filter(due_at__lt=now + timedelta(hours=1))
        if value == "due_soon":
            return open_cases.filter(due_at__gte=now, due_at__lt=now + timedelta(hours=1))
        return queryset.exclude(pk__in=open_cases.filter(due_at__lt=now).values("pk"))

    def filter_sla_kind(self, queryset, name, value):
        """Dashboards' drill-down: cases that met or missed their first-response or
        resolution target (the same definition as the rollups)."""
        from django.db.models import F
        from django.utils import timezone

        done, due = (
            ("first_response_at", "due_at")
            if name == "first_response"
            else ("resolved_at", "resolution_due_at")
        )
        if value == "met":
            return queryset.filter(**{f"{done}__isnull": False, f"{done}__lte": F(due)})
        return queryset.filter(**{f"{due}__isnull": False}).filter(
            Q(**{f"{done}__gt": F(due)})
            | Q(**{f"{done}__isnull": True, f"{due}__lt": timezone.now()})
        )

    def filter_q(self, queryset, name, value):
        # Only narrows cases the queryset already scoped; the items are matched by text.
        items = search_filter(FeedbackItem.objects.unscoped(), name, value)
        return queryset.filter(item__in=items.values("pk"))

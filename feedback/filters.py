"""One FilterSet per list, shared by the API and the browser pages."""

import django_filters
from django.contrib.postgres.search import SearchQuery
from django.db.models import Exists, OuterRef, Q

from config.filters import UtcIsoDateTimeFilter
from departments.models import Case
from feedback.models import FeedbackItem


def search_filter(queryset, name, value):
    """Full-text search on the body (PostgreSQL, English stemming) or an author's handle or
    name. `websearch_to_tsquery` accepts anything a person types (quotes, OR, -word) and
    never raises on odd input."""
    value = (value or "").strip()[:200]
    if not value:
        return queryset
    query = SearchQuery(value, config="english", search_type="websearch")
    return queryset.filter(
        Q(search_vector=query)
        | Q(author__handle__iexact=value.lstrip("@"))
        | Q(author__name__icontains=value)
    )


class FeedbackItemFilter(django_filters.FilterSet):
    department = django_filters.CharFilter(
        method="filter_department", help_text="Items with a case in this department."
    )
    case_status = django_filters.MultipleChoiceFilter(
        distinct=False,
        choices=Case.Status.choices,
        method="filter_case_status",
        help_text="Items with a case in this status (in `department` when given).",
    )
    state = django_filters.MultipleChoiceFilter(distinct=False, choices=FeedbackItem.State.choices)
    source = django_filters.CharFilter(field_name="source__slug")
    since = UtcIsoDateTimeFilter(field_name="received_at", lookup_expr="gte")
    until = UtcIsoDateTimeFilter(field_name="received_at", lookup_expr="lt")
    sentiment_min = django_filters.NumberFilter(field_name="sentiment", lookup_expr="gte")
    sentiment_max = django_filters.NumberFilter(field_name="sentiment", lookup_expr="lte")
    language = django_filters.CharFilter(field_name="language", lookup_expr="iexact")
    priority = django_filters.MultipleChoiceFilter(
        distinct=False, choices=FeedbackItem.Priority.choices
    )
    tag = django_filters.CharFilter(field_name="tags", lookup_expr="contains", method="filter_tag")
    q = django_filters.CharFilter(
        method=lambda qs, name, value: search_filter(qs, name, value),
        help_text="Full-text search in the body, or an author.",
    )

    class Meta:
        model = FeedbackItem
        fields: list[str] = []

    def _cases(self):
        """Cases as the request's viewer sees them: a filter over cases must not answer for
        cases the viewer cannot see (which items have an HR case, and in what status)."""
        from feedback.api.auth import request_viewer

        if self.request is None:  # system use (commands, tasks): every case
            return Case.objects.unscoped()
        return Case.objects.visible_to(request_viewer(self.request))

    def filter_department(self, queryset, name, value):
        return queryset.filter(
            Exists(self._cases().filter(item=OuterRef("pk"), department__slug=value))
        )

    def filter_case_status(self, queryset, name, value):
        cases = self._cases().filter(item=OuterRef("pk"), status__in=value)
        department = self.data.get("department")
        if department:
            cases = cases.filter(department__slug=department)
        return queryset.filter(Exists(cases))

    def filter_tag(self, queryset, name, value):
        return queryset.filter(tags__contains=[value.lower()])

"""Filter fields shared by every FilterSet."""

from datetime import UTC

import django_filters
from django import forms


class UtcIsoDateTimeField(forms.DateTimeField):
    """ISO 8601, normalized to UTC: PostgreSQL rejects offsets beyond ±15:59 that Python
    parses, and that must be a 400, not a database error."""

    input_formats = ["iso-8601"]

    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except (OverflowError, ValueError) as exc:
            raise forms.ValidationError("This date-time is out of range.") from exc


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField

from django import forms

from departments.models import Department
from departments.selectors import user_department_ids


class PreferenceForm(forms.Form):
    email = forms.BooleanField(required=False, label="Also email me my notifications")
    watched = forms.ModelMultipleChoiceField(
        queryset=Department.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Watch these departments' handoffs",
    )

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["watched"].queryset = Department.objects.filter(
            pk__in=user_department_ids(user)
        ).order_by("name")

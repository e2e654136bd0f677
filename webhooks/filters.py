"""FilterSets shared by the API and the admin's delivery log."""

import django_filters

from webhooks.models import Delivery, Event


class DeliveryFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Delivery.Status.choices)
    event = django_filters.ChoiceFilter(choices=Event.choices)

    class Meta:
        model = Delivery
        fields = ["status", "event"]

"""A sealed department's events reach only subscriptions that name it."""

import pytest

from departments.models import Department
from routing.services import items_route
from tests.factories import FeedbackItemFactory
from tests.webhooks.helpers import everything_and_hr
from webhooks.models import Delivery

pytestmark = pytest.mark.django_db


def test_hr_only_item_is_not_sent_to_unfiltered_subscriptions():
    everything, hr_tool = everything_and_hr("item.routed")
    Department.objects.update(routing_threshold=1.01)
    Department.objects.filter(slug="hr").update(routing_threshold=0.0)
    hr_only = FeedbackItemFactory(body="My manager shouts at the night shift")
    items_route(item_ids=[hr_only.pk])
    Department.objects.filter(slug="support").update(routing_threshold=0.0)
    both = FeedbackItemFactory(body="Pay slip wrong and the app crashed")
    items_route(item_ids=[both.pk])

    def received(subscription):
        return [
            {c["department"] for c in d.payload["data"]["cases"]}
            for d in Delivery.objects.filter(subscription=subscription)
        ]

    # The unfiltered subscription hears only support's part of the second item.
    assert received(everything) == [{"support"}]
    assert sorted(map(sorted, received(hr_tool))) == [["hr"], ["hr"]]

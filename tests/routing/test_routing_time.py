"""items_route(now=...): a batch routed at a given time, or each item at its own."""

from datetime import timedelta

import pytest
from django.utils import timezone

from departments.models import Case, CaseEvent
from feedback.models import FeedbackItem
from feedback.services import feedback_ingest
from routing.models import Rule
from routing.services import items_route, rule_save

pytestmark = pytest.mark.django_db


@pytest.fixture
def billing_rule():
    if not Rule.objects.exists():
        rule_save(
            rule=None,
            name="Refunds to support",
            position=10,
            enabled=True,
            match="all",
            conditions=[{"field": "body", "op": "contains_any", "value": ["refund"]}],
            actions=[{"type": "route_to", "department": "support"}],
        )


def test_each_item_is_routed_at_the_time_given_for_it(source, billing_rule):
    payloads = [
        {"external_id": f"t-{n}", "body": f"I want a refund for order {n}"} for n in range(3)
    ]
    ids = [o.item_id for o in feedback_ingest(payloads=payloads, default_source=source)]
    start = timezone.now() - timedelta(days=10)
    at = {pk: start + timedelta(hours=n) for n, pk in enumerate(ids)}

    items_route(item_ids=ids, now=lambda item: at[item.pk])

    for pk in ids:
        case = Case.objects.get(item_id=pk, department__slug="support")
        assert case.created_at == at[pk]
        assert case.due_at == at[pk] + case.department.first_response_sla
        assert FeedbackItem.objects.get(pk=pk).routed_at == at[pk]
        assert CaseEvent.objects.get(case=case, kind="routed").created_at == at[pk]

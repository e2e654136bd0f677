"""The documented payload shapes and their Slack summaries."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from departments.models import Department, Spike
from tests.factories import UserFactory
from tests.webhooks.helpers import routed
from webhooks.payloads import (
    ITEM_API_PATH,
    payload_case_handoff,
    payload_case_status_changed,
    payload_item_routed,
    payload_spike_detected,
    slack_text,
)

pytestmark = pytest.mark.django_db


def test_the_item_api_path_is_the_real_one():
    assert ITEM_API_PATH.format(id=7) == reverse("api:feedback-detail", args=[7])


def test_item_routed_carries_the_item_and_its_cases(django_assert_num_queries):
    item, cases = routed("support", "product")
    with django_assert_num_queries(0):  # built from what the caller already holds
        data = payload_item_routed(item=item, cases=cases)
    assert data["item"]["id"] == item.pk and data["item"]["source"] == item.source.slug
    assert data["item"]["author"]["handle"] == item.author.handle
    assert [c["department"] for c in data["cases"]] == ["support", "product"]
    assert data["cases"][0]["status"] == "new" and data["cases"][0]["confidence"] == 0.91
    assert "routed to support, product" in slack_text(event="item.routed", data=data)


def test_case_status_changed():
    _, (case,) = routed("support")
    case.status = "resolved"
    alice = UserFactory(username="alice")
    data = payload_case_status_changed(case=case, before="open", actor=alice, note="Refunded")
    assert (data["from"], data["to"], data["actor"]) == ("open", "resolved", "alice")
    assert data["case"]["department"] == "support" and data["item"]["id"] == case.item_id
    text = slack_text(event="case.status_changed", data=data)
    assert text.startswith(f"Case #{case.pk} in support: open → resolved by alice")


@pytest.mark.parametrize(
    ("event", "words"),
    [
        ("case.rerouted", "rerouted from support to hr"),
        ("case.shared", "shared from support with hr"),
    ],
)
def test_handoffs(event, words):
    item, (from_case, to_case) = routed("support", "hr")
    data = payload_case_handoff(from_case=from_case, to_case=to_case, note="Career question")
    assert (data["from_department"], data["to_department"]) == ("support", "hr")
    assert data["item"]["id"] == item.pk and data["actor"] is None
    text = slack_text(event=event, data=data)
    assert words in text and "Note: Career question" in text


def test_spike_detected():
    spike = Spike(
        dimension="department",
        key="support",
        hour=datetime(2026, 3, 1, 9, tzinfo=UTC),
        count=120,
        baseline=30.0,
        zscore=6.2,
        terms=["promo", "code"],
        related=["marketing"],
    )
    data = payload_spike_detected(spike=spike)
    assert data == {
        "dimension": "department",
        "key": "support",
        "hour": "2026-03-01T09:00:00+00:00",
        "count": 120,
        "baseline": 30.0,
        "zscore": 6.2,
        "reason": "120 posts this hour against about 30 expected (z 6.2)",
        "terms": ["promo", "code"],
        "related_departments": ["marketing"],
    }
    text = slack_text(event="spike.detected", data=data)
    assert "Spike for department support: 120 posts this hour against about 30 expected" in text
    assert "about: promo, code" in text
    # A delivery queued before payloads carried the reason still says it.
    older = slack_text(event="spike.detected", data={**data, "reason": None})
    assert "120 posts this hour against about 30.0 expected" in older


def test_a_summary_survives_an_unexpected_payload():
    assert (
        slack_text(event="item.routed", data={}) == "New feedback from feedback routed to triage: "
    )
    assert Department.objects.exists()  # the data migration's departments are there

"""webhook_emit: who is owed an event, written in the caller's transaction, sent after commit."""

import pytest
from django.db import transaction

from tests.webhooks.helpers import routed_event
from webhooks.models import Delivery
from webhooks.services import subscription_update, webhook_emit

pytestmark = pytest.mark.django_db


def test_emit_owes_the_event_to_each_matching_subscription(subscribe, support, product):
    everything = subscribe(name="all")
    support_only = subscribe(name="support", departments=[support])
    product_only = subscribe(name="product", departments=[product])
    statuses_only = subscribe(name="statuses", events=["case.status_changed"])

    webhook_emit(**routed_event("support", "hr"))

    owed = set(Delivery.objects.values_list("subscription__name", flat=True))
    assert owed == {everything.name, support_only.name}
    assert product_only.name not in owed and statuses_only.name not in owed
    delivery = Delivery.objects.filter(subscription=support_only).get()
    assert delivery.status == "pending" and delivery.attempts == 0
    assert delivery.payload["event"] == "item.routed"
    assert delivery.payload["id"] == str(delivery.event_id)
    # HR is sealed: the subscriptions hear support's part of the item, never HR's case.
    assert [c["department"] for c in delivery.payload["data"]["cases"]] == ["support"]


def test_one_event_has_one_id_across_subscriptions(subscribe):
    subscribe(name="a")
    subscribe(name="b")
    webhook_emit(**routed_event("support"))
    assert Delivery.objects.values("event_id").distinct().count() == 1
    assert Delivery.objects.count() == 2


def test_inactive_subscriptions_are_not_owed_anything(subscribe):
    subscription = subscribe()
    subscription_update(subscription=subscription, active=False)
    webhook_emit(**routed_event("support"))
    assert not Delivery.objects.exists()


def test_backfill_notifies_no_one(subscribe):
    subscribe()
    webhook_emit(**routed_event("support", backfill=True))
    webhook_emit(event="case.shared", payload={"x": 1}, departments=["support"], backfill=True)
    assert not Delivery.objects.exists()


def test_an_unknown_event_is_a_bug_in_the_caller(subscribe):
    with pytest.raises(ValueError, match="Unknown webhook event"):
        webhook_emit(event="item.exploded", payload={})


def test_payloads_are_stored_as_the_json_the_receiver_will_see(subscribe):
    from datetime import UTC, datetime
    from decimal import Decimal

    subscribe(events=["spike.detected"])
    when = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    webhook_emit(event="spike.detected", payload={"at": when, "ratio": Decimal("3.5")})
    data = Delivery.objects.get().payload["data"]
    assert data == {"at": "2026-03-01T09:30:00Z", "ratio": "3.5"}


def test_a_rolled_back_change_owes_nothing_and_sends_nothing(
    subscribe, receiver, django_capture_on_commit_callbacks
):
    subscribe()
    event = routed_event("support")
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        webhook_emit(**event)
        raise RuntimeError("the caller's change failed")
    assert not callbacks
    assert not Delivery.objects.exists()
    assert receiver.requests == []


def test_sending_waits_for_the_callers_commit(
    subscribe, receiver, django_capture_on_commit_callbacks
):
    subscribe()
    event = routed_event("support")
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        webhook_emit(**event)
        assert receiver.requests == []  # nothing leaves before the commit
    assert len(receiver.requests) == 1
    assert Delivery.objects.get().status == "succeeded"


def test_emit_costs_one_insert_once_subscriptions_are_cached(subscribe, django_assert_num_queries):
    subscribe()
    event = routed_event("support")
    with django_assert_num_queries(2):  # read the subscriptions, insert the delivery
        webhook_emit(**event)
    with django_assert_num_queries(1):  # cached: the insert only
        webhook_emit(**event)


def test_a_subscription_deleted_while_cached_is_owed_nothing(subscribe, settings):
    """The cache outlives a deletion elsewhere (another process; here a delete that skips
    the services): the emit skips it instead of failing the caller's transaction on the
    foreign key (ForeignKeyViolation on webhooks_delivery.subscription_id)."""
    from django.db import connection

    settings.WEBHOOK_SUBSCRIPTION_CACHE_SECONDS = 60
    gone, kept = subscribe(), subscribe()
    event = routed_event("support")
    webhook_emit(**event)  # warms the cache with both
    Delivery.objects.all().delete()
    type(gone).objects.filter(pk=gone.pk).delete()
    webhook_emit(**event)
    connection.check_constraints()
    assert list(Delivery.objects.values_list("subscription_id", flat=True)) == [kept.pk]


def test_emit_without_a_matching_subscription_writes_nothing(
    subscribe, product, django_assert_num_queries
):
    subscribe(departments=[product])
    event = routed_event("support")
    webhook_emit(**event)  # warms the cache
    with django_assert_num_queries(0):
        webhook_emit(**event)
    assert not Delivery.objects.exists()


def test_a_new_subscription_is_seen_at_once_in_this_process(subscribe):
    event = routed_event("support")
    webhook_emit(**event)  # caches "no subscriptions"
    subscribe()
    webhook_emit(**event)
    assert Delivery.objects.count() == 1

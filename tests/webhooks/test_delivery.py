"""Sending deliveries to a real HTTP receiver on 127.0.0.1: signature, retries with backoff,
failure, redelivery, timeouts, Slack format, and the sweeper."""

import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.webhooks.constants import FAST_DELAYS
from tests.webhooks.helpers import routed_event
from webhooks.models import Delivery
from webhooks.services import (
    WebhookError,
    deliveries_sweep,
    delivery_attempt,
    delivery_redeliver,
    signature_verify,
    subscription_redeliver_failed,
    subscription_update,
    webhook_emit,
)
from webhooks.tasks import deliver

pytestmark = pytest.mark.django_db


@pytest.fixture
def emit(django_capture_on_commit_callbacks):
    """webhook_emit inside a committed transaction (the enqueue runs, eagerly, on commit)."""

    def run(**kwargs) -> Delivery:
        with django_capture_on_commit_callbacks(execute=True):
            webhook_emit(**(kwargs or routed_event("support")))
        return Delivery.objects.order_by("-id").first()

    return run


def drive_retries(*deliveries: Delivery, timeout: float = 10.0) -> Delivery | list[Delivery]:
    """Play the part of the broker's countdown: run `deliver` when each retry falls due."""
    deadline = time.monotonic() + timeout
    pending = {d.pk for d in deliveries}
    while pending and time.monotonic() < deadline:
        due = min(Delivery.objects.filter(pk__in=pending).values_list("next_attempt_at", flat=True))
        time.sleep(max((due - timezone.now()).total_seconds(), 0) + 0.01)
        for pk in sorted(pending):
            deliver.delay(pk)
        pending = set(
            Delivery.objects.filter(pk__in=pending, status="pending").values_list("pk", flat=True)
        )
    for d in deliveries:
        d.refresh_from_db()
    return deliveries[0] if len(deliveries) == 1 else list(deliveries)


def test_the_receiver_gets_the_event_and_the_signature_verifies(subscribe, receiver, emit):
    subscription = subscribe()
    delivery = emit()

    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert request.path == "/hooks/switchboard"
    headers = request.headers
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "Switchboard-Webhooks/1"
    assert headers["Switchboard-Event"] == "item.routed"
    assert headers["Switchboard-Delivery"] == str(delivery.pk)
    assert signature_verify(
        secret=subscription.secret, header=headers["Switchboard-Signature"], body=request.body
    )
    assert not signature_verify(
        secret="whsec_wrong", header=headers["Switchboard-Signature"], body=request.body
    )
    body = json.loads(request.body)
    assert body["id"] == str(delivery.event_id)
    assert body["event"] == "item.routed"
    assert body["data"]["item"]["body"] == "The app crashes when I upload a photo."

    delivery.refresh_from_db()
    assert delivery.status == "succeeded" and delivery.attempts == 1
    assert delivery.response_code == 200 and delivery.response_body == '{"ok": true}'
    assert delivery.response_ms is not None and delivery.delivered_at is not None
    assert delivery.next_attempt_at is None and delivery.error == ""


def test_a_succeeded_delivery_is_never_sent_again(subscribe, receiver, emit):
    subscribe()
    delivery = emit()
    deliver.delay(delivery.pk)
    delivery_attempt(delivery_id=delivery.pk)
    assert deliveries_sweep(older_than=timedelta(0)) == 0
    assert len(receiver.requests) == 1


def test_a_failing_receiver_gets_retries_with_growing_waits_then_a_failed_delivery_that_can_be_redelivered(  # noqa: E501
    subscribe, receiver, emit, django_capture_on_commit_callbacks
):
    subscribe()
    receiver.status = 500
    receiver.answer = b"database is down"
    delivery = emit()
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.attempts == 1
    assert delivery.response_code == 500 and delivery.error == "HTTP 500"

    # A retry task that arrives before the retry is due changes nothing.
    deliver.delay(delivery.pk)
    assert len(receiver.requests) == 1

    delivery = drive_retries(delivery)
    limit = len(FAST_DELAYS) + 1
    assert delivery.status == "failed"
    assert delivery.attempts == limit == len(receiver.requests)
    assert delivery.response_code == 500 and delivery.response_body == "database is down"
    assert delivery.next_attempt_at is None and delivery.delivered_at is None

    gaps = [b.at - a.at for a, b in zip(receiver.requests, receiver.requests[1:], strict=False)]
    for gap, planned in zip(gaps, FAST_DELAYS, strict=True):
        assert gap >= planned
    assert gaps == sorted(gaps)  # exponential backoff: each wait longer than the last

    # The receiver recovers; someone presses "redeliver".
    receiver.status = 200
    with django_capture_on_commit_callbacks(execute=True):
        redelivery = delivery_redeliver(delivery=delivery)
    redelivery.refresh_from_db()
    assert redelivery.pk != delivery.pk and redelivery.redelivery_of_id == delivery.pk
    assert redelivery.status == "succeeded" and redelivery.attempts == 1
    delivery.refresh_from_db()
    assert delivery.status == "failed"  # the log keeps the failure as it happened
    # Same event, same body: the receiver can deduplicate on the envelope id.
    assert receiver.requests[-1].body == receiver.requests[0].body
    assert receiver.requests[-1].headers["Switchboard-Delivery"] == str(redelivery.pk)


def test_a_slow_receiver_times_out_and_the_delivery_records_it(subscribe, receiver, emit, settings):
    settings.WEBHOOK_TIMEOUT = (1.0, 0.3)
    subscribe()
    receiver.delay = 1.0
    started = time.monotonic()
    delivery = emit()
    assert time.monotonic() - started < 0.9
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.attempts == 1
    assert delivery.response_code is None
    assert "read timeout (0.3 s)" in delivery.error
    assert 300 <= delivery.response_ms < 900
    assert delivery.next_attempt_at > timezone.now()


def test_a_receiver_that_is_down_is_a_connection_error_and_is_retried(subscribe, receiver, emit):
    subscribe()
    receiver.stop()
    delivery = emit()
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.response_code is None
    assert delivery.error.startswith("Connection failed")


def test_redirects_are_not_followed(subscribe, receiver, emit):
    subscribe()
    receiver.status = 302
    delivery = emit()
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.response_code == 302


def test_slack_format_sends_a_short_escaped_summary(subscribe, receiver, emit):
    subscription = subscribe(format="slack")
    emit(**routed_event("support", "product", body="Checkout <!channel> & totals are wrong"))
    request = receiver.requests[0]
    body = json.loads(request.body)
    assert list(body) == ["text"]
    assert body["text"].startswith("New feedback from ")
    assert "routed to support, product" in body["text"]
    assert "&lt;!channel&gt; &amp; totals" in body["text"]  # no @channel from a customer
    assert signature_verify(
        secret=subscription.secret,
        header=request.headers["Switchboard-Signature"],
        body=request.body,
    )


def test_the_response_body_is_capped_at_2_kb(subscribe, receiver, emit):
    subscribe()
    receiver.answer = b"x" * 10_000
    delivery = emit()
    delivery.refresh_from_db()
    assert delivery.status == "succeeded" and len(delivery.response_body) == 2048


def test_a_deactivated_subscription_stops_its_pending_deliveries(subscribe, receiver):
    subscription = subscribe()
    webhook_emit(**routed_event("support"))  # the enqueue never runs (no commit in this test)
    subscription_update(subscription=subscription, active=False)
    delivery = delivery_attempt(delivery_id=Delivery.objects.get().pk)
    assert delivery.status == "failed" and "inactive" in delivery.error
    assert receiver.requests == []


def test_private_addresses_are_refused_unless_allowed(subscribe, receiver, settings):
    subscription = subscribe()
    webhook_emit(**routed_event("support"))
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False
    delivery = delivery_attempt(delivery_id=Delivery.objects.get().pk)
    assert delivery.status == "failed" and delivery.attempts == 1  # refused: not retried
    assert delivery.error == "Refused: 127.0.0.1 is a loopback address."
    assert receiver.requests == []
    with pytest.raises(WebhookError, match=r"169\.254\.169\.254 is a cloud metadata address"):
        subscription_update(subscription=subscription, url="http://169.254.169.254/latest/")


def test_a_name_that_moves_to_loopback_after_it_was_saved_is_refused_unsent(
    subscribe, receiver, emit, settings, network
):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False
    # Public when the subscription is saved, loopback by the time the delivery goes out.
    network.answer("hooks.acme.test", ["93.184.216.34"], ["127.0.0.1"])
    subscribe(url=f"http://hooks.acme.test:{receiver.port}/hooks/switchboard")

    delivery = emit()

    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.attempts == 1
    assert delivery.error == (
        "Refused: hooks.acme.test resolves to 127.0.0.1, which is a loopback address."
    )
    assert network.connects == [] and receiver.requests == []


def test_a_delivery_connects_to_the_address_it_checked(
    subscribe, receiver, emit, settings, network
):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False
    # Saved, then sent: one lookup each. A library resolving the name again while connecting
    # would get the third answer, the receiver's loopback address.
    network.answer("hooks.acme.test", ["93.184.216.34"], ["93.184.216.34"], ["127.0.0.1"])
    network.serve_as(receiver.port)  # the receiver plays 93.184.216.34
    subscribe(url="http://hooks.acme.test/hooks/switchboard")

    delivery = emit()

    delivery.refresh_from_db()
    assert delivery.status == "succeeded"
    assert network.lookups == ["hooks.acme.test", "hooks.acme.test"]
    assert network.connects == [("93.184.216.34", 80)]
    assert receiver.requests[0].headers["Host"] == "hooks.acme.test"


def test_the_sweeper_sends_deliveries_whose_enqueue_was_lost(subscribe, receiver, settings):
    subscribe()
    webhook_emit(**routed_event("support"))  # committed, but the enqueue was lost
    delivery = Delivery.objects.get()
    assert deliveries_sweep() == 0  # not overdue yet: it may simply be queued
    settings.WEBHOOK_SWEEP_AFTER = 0
    assert deliveries_sweep() == 1
    delivery.refresh_from_db()
    assert delivery.status == "succeeded" and len(receiver.requests) == 1


def test_the_sweeper_ends_a_delivery_whose_last_attempt_died_with_its_worker(subscribe):
    subscribe()
    webhook_emit(**routed_event("support"))
    long_ago = timezone.now() - timedelta(minutes=10)
    Delivery.objects.update(attempts=len(FAST_DELAYS) + 1, next_attempt_at=long_ago)
    deliveries_sweep()
    delivery = Delivery.objects.get()
    assert delivery.status == "failed" and "worker lost" in delivery.error


def test_redelivering_twice_while_pending_queues_one_redelivery(subscribe):
    subscribe()
    webhook_emit(**routed_event("support"))
    Delivery.objects.update(status="failed", next_attempt_at=None)
    delivery = Delivery.objects.get()
    first = delivery_redeliver(delivery=delivery)  # no commit here: it stays pending
    again = delivery_redeliver(delivery=delivery)
    assert first.pk == again.pk
    with pytest.raises(WebhookError, match="still being attempted"):
        delivery_redeliver(delivery=first)


def test_after_an_outage_every_failed_delivery_is_redelivered_once(
    subscribe, receiver, emit, django_capture_on_commit_callbacks, settings
):
    settings.WEBHOOK_RETRY_DELAYS = [0.05, 0.1]
    subscription = subscribe()
    receiver.stop()
    failed = drive_retries(*[emit() for _ in range(3)])
    assert {d.status for d in failed} == {"failed"}

    receiver.start(port=receiver.port)  # back up on the same address
    with django_capture_on_commit_callbacks(execute=True):
        assert subscription_redeliver_failed(subscription=subscription) == 3
    assert subscription_redeliver_failed(subscription=subscription) == 0
    ids = sorted(json.loads(r.body)["id"] for r in receiver.requests)
    assert ids == sorted(str(d.event_id) for d in failed)  # nothing lost, nothing twice
    assert Delivery.objects.filter(status="succeeded").count() == 3


def test_a_broker_outage_does_not_break_the_caller_and_the_sweeper_catches_up(
    subscribe, receiver, emit, monkeypatch, settings
):
    from config.celery import app
    from webhooks import services

    subscribe()

    def broker_down(*args, **kwargs):
        raise ConnectionRefusedError("redis is down")

    monkeypatch.setattr(services, "_broker_down_until", 0.0)
    publish = deliver.apply_async
    app.conf.task_always_eager = False
    deliver.apply_async = broker_down
    try:
        delivery = emit()  # commits and tries to enqueue: no exception reaches the caller
    finally:
        del deliver.apply_async
        app.conf.task_always_eager = True
    assert deliver.apply_async == publish
    delivery.refresh_from_db()
    assert delivery.status == "pending" and receiver.requests == []

    # The broker is back; the sweeper finds what was never enqueued.
    monkeypatch.setattr(services, "_broker_down_until", 0.0)
    settings.WEBHOOK_SWEEP_AFTER = 0
    assert deliveries_sweep() == 1
    delivery.refresh_from_db()
    assert delivery.status == "succeeded" and len(receiver.requests) == 1


def test_the_task_shrugs_off_a_deleted_subscription(subscribe):
    subscription = subscribe()
    webhook_emit(**routed_event("support"))
    pk = Delivery.objects.get().pk
    subscription.delete()
    assert deliver(pk) == "gone"

"""Real Celery worker, real Redis broker, real receiver: webhooks are sent off the caller's
path, retried through the broker, and nothing is lost while a receiver is down."""

import json
import time

import pytest
from django.db import transaction
from django.urls import reverse

from config.celery import app
from departments.models import Department
from feedback.models import FeedbackItem
from tests import workers
from tests.webhooks.constants import WORKER_DELAYS
from tests.webhooks.helpers import routed_event
from webhooks.models import Delivery
from webhooks.services import subscription_redeliver_failed, webhook_emit

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker):
    """One worker for the module, consuming routing, maintenance and webhooks, with
    tests/webhooks/worker_settings.py (retries through the broker, short delays)."""
    app.conf.task_always_eager = False
    w = None
    try:
        with django_db_blocker.unblock(), pytest.MonkeyPatch.context() as patch:
            workers.purge_queues()
            plain_env = workers.worker_env
            patch.setattr(
                workers,
                "worker_env",
                lambda: {**plain_env(), "DJANGO_SETTINGS_MODULE": "tests.webhooks.worker_settings"},
            )
            w = workers.Worker(name="webhooks").start()
        yield w
    finally:
        if w is not None:
            w.stop()
        workers.purge_queues()
        app.conf.task_always_eager = True


@pytest.fixture
def real_broker(worker, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.WEBHOOK_RETRY_DELAYS = WORKER_DELAYS
    app.conf.task_always_eager = False
    yield
    workers.purge_queues()


def test_a_slow_receiver_holds_up_neither_the_emitting_transaction_nor_routing(
    real_broker, subscribe, receiver, api, source
):
    subscribe()
    receiver.delay = 3.0
    event = routed_event("support")
    reverse("api:feedback-list")  # this process's first request imports the URLconf (~2 s)

    started = time.monotonic()
    with transaction.atomic():
        webhook_emit(**event)
    committed_in = time.monotonic() - started
    # Written and enqueued; nobody waited on the 3 s receiver. (~0.1 s here, most of it the
    # test process opening its first broker connection.)
    assert committed_in < 0.5, committed_in

    delivery = Delivery.objects.get()
    assert receiver.wait_for(1, timeout=5)  # the worker is now waiting on the receiver
    delivery.refresh_from_db()
    assert delivery.status == "pending"

    # Routing goes on meanwhile (the webhook holds one worker process, not the queue).
    Department.objects.filter(slug="support").update(routing_threshold=0.0)
    posted = api.post(
        "/api/v1/feedback/",
        [{"external_id": "slow-hook-1", "body": "My parcel is late again"}],
        format="json",
    )
    item_id = posted.json()["results"][0]["id"]
    assert workers.wait_until(
        lambda: FeedbackItem.objects.get(pk=item_id).state != "received", timeout=10
    )
    delivery.refresh_from_db()
    assert delivery.status == "pending"  # routed while the receiver was still sleeping

    assert workers.wait_until(
        lambda: Delivery.objects.filter(pk=delivery.pk, status="succeeded").exists(), timeout=10
    )
    delivery.refresh_from_db()
    assert delivery.response_ms >= 3000 and delivery.attempts == 1
    assert time.monotonic() - started >= 3.0


def test_a_receiver_down_for_a_while_loses_nothing(real_broker, subscribe, receiver):
    subscription = subscribe()
    port = receiver.port
    receiver.stop()  # the receiver is down: connections are refused

    # One event recovers by itself (the receiver is back before its retries run out)...
    with transaction.atomic():
        webhook_emit(**routed_event("support"))
    recovering = Delivery.objects.get()
    assert workers.wait_until(
        lambda: Delivery.objects.get(pk=recovering.pk).attempts >= 2, timeout=5
    )
    receiver.start(port=port)
    assert workers.wait_until(
        lambda: Delivery.objects.get(pk=recovering.pk).status == "succeeded", timeout=8
    )
    recovering.refresh_from_db()
    assert recovering.attempts in (3, 4)

    # ...three more outlast every retry and end as failed deliveries.
    receiver.stop()
    for _ in range(3):
        with transaction.atomic():
            webhook_emit(**routed_event("support"))
    failed = Delivery.objects.exclude(pk=recovering.pk)
    assert workers.wait_until(
        lambda: set(failed.values_list("status", flat=True)) == {"failed"}, timeout=15
    ), list(failed.values("status", "attempts", "error"))
    for d in failed:
        assert d.attempts == len(WORKER_DELAYS) + 1
        assert d.error.startswith("Connection failed")
        assert (d.last_attempt_at - d.created_at).total_seconds() >= sum(WORKER_DELAYS)

    # Back up: one call redelivers them all; each event arrives once.
    receiver.start(port=port)
    assert subscription_redeliver_failed(subscription=subscription) == 3
    assert workers.wait_until(
        lambda: (
            Delivery.objects.filter(redelivery_of__isnull=False, status="succeeded").count() == 3
        ),
        timeout=10,
    )
    received = [json.loads(r.body)["id"] for r in receiver.requests]
    expected = {str(d.event_id) for d in Delivery.objects.filter(redelivery_of__isnull=True)}
    assert sorted(received) == sorted(expected) and len(received) == 4

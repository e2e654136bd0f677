"""Drill: a webhook receiver down for a while. A real worker sends to a real HTTP receiver on
127.0.0.1 whose port is closed; the deliveries are retried through the broker, end as
failed, and once the receiver is back an operator redelivers them through the API."""

import json

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from tests.factories import UserFactory
from tests.faults.constants import WEBHOOK_RETRY_DELAYS
from tests.faults.procs import CeleryProcess, process_env, wait_for
from tests.webhooks.helpers import routed_event
from tests.webhooks.receiver import Receiver
from webhooks.models import Delivery
from webhooks.services import max_attempts, subscription_create, webhook_emit

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

EVENTS = 5


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


def test_a_receiver_down_for_a_while_gets_every_event_once_after_redelivery(
    broker, receiver, settings, logs
):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True  # the receiver is on 127.0.0.1
    settings.WEBHOOK_RETRY_DELAYS = WEBHOOK_RETRY_DELAYS  # as the worker has them
    port = receiver.port
    sam = UserFactory(username="sam", is_staff=True)  # the operator, who owns the subscription
    subscription = subscription_create(
        name="ops receiver", url=receiver.url, events=["item.routed"], created_by=sam
    )
    receiver.stop()  # down: connections to its port are refused

    worker = CeleryProcess(
        env=process_env(), broker_url=settings.CELERY_BROKER_URL, log=logs / "worker.log"
    ).start()
    try:
        for _ in range(EVENTS):
            with transaction.atomic():
                webhook_emit(**routed_event("support"))
        originals = Delivery.objects.filter(redelivery_of__isnull=True)
        event_ids = {str(e) for e in originals.values_list("event_id", flat=True)}
        assert len(event_ids) == EVENTS

        # Every attempt is refused; after the last retry each delivery is failed, with why.
        assert wait_for(
            lambda: set(originals.values_list("status", flat=True)) == {"failed"}, timeout=30
        ), list(originals.values("status", "attempts", "error"))
        for delivery in originals:
            assert delivery.attempts == max_attempts()
            assert delivery.error.startswith("Connection failed"), delivery.error
        assert receiver.requests == []

        # Back up. The operator redelivers everything that failed, in one call.
        receiver.start(port=port)
        staff = APIClient()
        staff.force_login(sam)
        response = staff.post(f"/api/v1/webhooks/{subscription.pk}/redeliver-failed/")
        assert response.status_code == 202, response.content
        assert response.json()["redelivered"] == EVENTS
        again = staff.post(f"/api/v1/webhooks/{subscription.pk}/redeliver-failed/")
        assert again.json()["redelivered"] == 0  # pending redeliveries are not queued twice

        redeliveries = Delivery.objects.filter(redelivery_of__isnull=False)
        assert wait_for(
            lambda: list(redeliveries.values_list("status", flat=True)) == ["succeeded"] * EVENTS,
            timeout=20,
        ), list(redeliveries.values("status", "attempts", "error"))
    finally:
        worker.stop()

    # Nothing lost, nothing doubled: each event arrived once, under its original event id.
    received = [json.loads(r.body)["id"] for r in receiver.requests]
    assert sorted(received) == sorted(event_ids)
    assert set(originals.values_list("status", flat=True)) == {"failed"}  # the log stays

"""Two workers with the same delivery (a duplicate task, or the sweeper racing a retry)."""

import threading

import pytest
from django.db import connection

from tests.webhooks.helpers import routed_event
from webhooks import services
from webhooks.models import Delivery
from webhooks.services import delivery_attempt, webhook_emit

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_workers_never_send_the_same_attempt(subscribe, receiver, monkeypatch):
    subscribe()
    monkeypatch.setattr(services, "deliveries_enqueue", lambda *args, **kwargs: False)
    webhook_emit(**routed_event("support"))  # committed; the enqueue is "lost"
    webhook_emit(**routed_event("support"))
    receiver.status = 500
    receiver.delay = 0.3  # the attempt is still in flight when the second worker looks
    ids = list(Delivery.objects.values_list("pk", flat=True))
    barrier = threading.Barrier(4)

    def work(pk):
        barrier.wait()
        try:
            delivery_attempt(delivery_id=pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(pk,)) for pk in ids for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(receiver.requests) == len(ids) == 2
    assert sorted(int(r.headers["Switchboard-Delivery"]) for r in receiver.requests) == sorted(ids)
    assert set(Delivery.objects.values_list("attempts", flat=True)) == {1}

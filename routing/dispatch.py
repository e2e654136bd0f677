"""Putting routing work on the queue.

Enqueueing is best effort by design: the items are already committed as `received`, and
the beat sweeper re-enqueues anything still waiting after ROUTING_SWEEP_AFTER. So a broker
outage must never fail an ingest request; it only delays routing.
"""

import logging
import time
from collections.abc import Sequence

from django.conf import settings
from django.db import transaction

from config.celery import BROKER_ERRORS

logger = logging.getLogger(__name__)

# After a failed publish, skip publishing for a while instead of making every request wait
# for the broker's connect timeout; the sweeper catches up when the broker is back.
_BROKER_BACKOFF_SECONDS = 5.0
_broker_down_until = 0.0


def _batches(ids: Sequence[int], size: int) -> list[list[int]]:
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


def routing_enqueue(item_ids: Sequence[int]) -> bool:
    """Publish route_items tasks for these ids in batches. Returns False if the broker
    could not be reached (the sweeper will pick the items up later)."""
    global _broker_down_until
    if not item_ids:
        return True
    if time.monotonic() < _broker_down_until:
        return False
    from routing.tasks import route_items  # tasks import services that import this module

    try:
        for batch in _batches(list(item_ids), settings.ROUTING_BATCH_SIZE):
            route_items.apply_async(args=[batch], retry=False)
    except BROKER_ERRORS:
        _broker_down_until = time.monotonic() + _BROKER_BACKOFF_SECONDS
        logger.warning(
            "broker unreachable; %d item(s) left for the sweeper", len(item_ids), exc_info=True
        )
        return False
    return True


def routing_enqueue_on_commit(item_ids: Sequence[int]) -> None:
    """Enqueue after the surrounding transaction commits (workers must see the rows).

    A hand-written on_commit rather than Celery's delay_on_commit: it must be `robust`, so
    an error after commit is logged instead of turning a stored request into a 500 (the
    items wait as `received` for the sweeper). The tests fail on such a log
    (tests/conftest.py), so an error of in-process routing is not lost there.
    """
    if item_ids:
        ids = list(item_ids)
        transaction.on_commit(lambda: routing_enqueue(ids), robust=True)

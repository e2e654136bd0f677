"""Celery tasks for routing: thin wrappers that take ids and call services."""

import logging

from celery import shared_task
from celery.signals import worker_process_init
from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections

from routing.classification import classifier_active
from routing.enrichment import warm_up as enrichment_warm_up
from routing.services import items_route, items_sweep

logger = logging.getLogger(__name__)


def warm_up() -> None:
    enrichment_warm_up()
    classifier_active()


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    # Only transient database trouble is retried; anything else is handled inside the
    # service (the item is marked failed with its error).
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=8,
)
def route_items(item_ids: list[int]) -> dict:
    summary = items_route(item_ids=item_ids, fill_to=settings.ROUTING_BATCH_SIZE)
    return {
        "routed": summary.routed,
        "triage": summary.triage,
        "noise": summary.noise,
        "failed": summary.failed,
        "skipped": summary.skipped,
        "cases": summary.cases,
    }


@shared_task(acks_late=True, ignore_result=True)
def sweep_received() -> int:
    return items_sweep()


@shared_task(acks_late=True, ignore_result=True, soft_time_limit=1800, time_limit=2000)
def rescore_triage() -> dict:
    """After a new classifier version is activated: route what it is now sure about."""
    from routing.services import triage_rescore

    summary = triage_rescore()
    return {"routed": summary.routed, "noise": summary.noise, "stay": summary.triage}


@worker_process_init.connect
def _warm_up(**kwargs) -> None:
    """Load the language model, the sentiment lexicon and the active classifier when a worker
    process starts, so the first batch it routes is not ~0.5 s slower than the rest."""
    try:
        warm_up()
    except Exception:  # a cold start is slower, not broken: routing loads lazily anyway
        logger.warning("warm-up failed; models load on first use", exc_info=True)
    finally:
        close_old_connections()


@shared_task(acks_late=True, ignore_result=True, soft_time_limit=1800, time_limit=2000)
def retrain_classifier() -> str:
    from routing.learning import classifier_retrain

    result = classifier_retrain(min_staff_labels=20)
    return result.reason

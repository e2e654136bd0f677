"""Celery tasks for routing: thin wrappers that take ids and call services."""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from routing.services import items_route, items_sweep


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
    summary = items_route(item_ids=item_ids)
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

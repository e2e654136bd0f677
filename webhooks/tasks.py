"""Celery tasks for webhooks: thin wrappers that take ids and call services. They run on the
`webhooks` queue (CELERY_TASK_ROUTES), so a slow receiver never holds up routing."""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from webhooks.models import Delivery
from webhooks.services import deliveries_sweep, delivery_attempt


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    # Only transient database trouble is retried here. HTTP failures are not exceptions:
    # the service records them and schedules the next attempt from Delivery.next_attempt_at.
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=5,
    # One attempt is at most connect + read timeouts (~25 s by default); the hard limit must
    # stay under services.ATTEMPT_LEASE (120 s) so a live attempt is never started twice.
    soft_time_limit=60,
    time_limit=90,
)
def deliver(delivery_id: int) -> str:
    try:
        return delivery_attempt(delivery_id=delivery_id).status
    except Delivery.DoesNotExist:  # the subscription was deleted meanwhile
        return "gone"


@shared_task(acks_late=True, ignore_result=True)
def sweep_due_deliveries() -> int:
    return deliveries_sweep()

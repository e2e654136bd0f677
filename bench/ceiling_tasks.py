"""Bench-only Celery task: the broker-and-worker floor under POST-to-routed latency.

Imported only by the bench's worker (`celery worker --include bench.ceiling_tasks`).
"""

import time

import redis
from celery import shared_task
from django.conf import settings

RESULT_KEY = "bench:noop:latency"


@shared_task(acks_late=True, ignore_result=True)
def noop(sent_at: float) -> None:
    """Record how long the message took from apply_async to running (same machine clock)."""
    latency = time.time() - sent_at
    redis.Redis.from_url(settings.REDIS_URL).rpush(RESULT_KEY, latency)

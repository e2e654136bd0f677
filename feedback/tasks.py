"""Celery tasks for the feedback store's connectors: thin wrappers that take ids and call
services. Routed to the `maintenance` queue (CELERY_TASK_ROUTES: feedback.tasks.*)."""

from datetime import datetime

from celery import shared_task

from feedback.connectors.feeds import feed_claim, feed_poll, feeds_claim_due


@shared_task(acks_late=True, ignore_result=True)
def poll_due_feeds() -> int:
    """Beat, every minute: claim the feeds that are due and poll each in its own task, so a
    slow or hanging feed holds up nothing but itself. Returns how many were claimed."""
    feed_ids, lease = feeds_claim_due()
    for feed_id in feed_ids:
        # Outside any transaction here, so this publishes at once. If the broker is down the
        # claimed feeds simply become due again when their lease runs out.
        poll_feed.delay_on_commit(feed_id, lease.isoformat())
    return len(feed_ids)


# No autoretry: a failed poll leaves the feed leased, and it is polled again when the lease
# (feeds.FEED_LEASE, 5 minutes) runs out. The time limits sit well inside that lease, so a
# feed is never polled by two workers at once.
@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    soft_time_limit=120,
    time_limit=150,
)
def poll_feed(feed_id: int, lease: str | None = None) -> str:
    """Poll one feed if this task still holds its claim (`lease`, from poll_due_feeds), or,
    without a lease, if the feed is due. Returns the outcome, or "skipped"."""
    feed = feed_claim(feed_id=feed_id, lease=datetime.fromisoformat(lease) if lease else None)
    if feed is None:
        return "skipped"
    return feed_poll(feed=feed).status

"""Read-side queries for webhooks: which subscriptions want an event, and the delivery log."""

import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.postgres.aggregates import ArrayAgg
from django.db.models import Q, QuerySet, Value

from webhooks.models import Delivery, Subscription


@dataclass(frozen=True)
class Target:
    """What matching needs to know about one active subscription."""

    subscription_id: int
    events: frozenset[str]
    departments: frozenset[str]  # empty: every department

    def wants(
        self, event: str, departments: frozenset[str], sealed: frozenset[str] = frozenset()
    ) -> bool:
        """A subscription without a department filter hears every department except the
        sealed ones (HR): their events go only to subscriptions that name them."""
        if event not in self.events:
            return False
        if self.departments:
            return bool(self.departments & departments)
        return not departments or bool(departments - sealed)


# Routing emits once per item it decides, so reading the subscriptions on every call would
# add a query per item. They change rarely: keep them in this process for a few seconds.
# Changes made through the services clear this process's copy at once; other processes
# see them within WEBHOOK_SUBSCRIPTION_CACHE_SECONDS.
_cache: tuple[float, tuple[Target, ...]] | None = None


def _cache_seconds() -> float:
    return float(getattr(settings, "WEBHOOK_SUBSCRIPTION_CACHE_SECONDS", 5.0))


def subscription_targets() -> tuple[Target, ...]:
    """Every active subscription, one query (or none while the cached copy is fresh)."""
    global _cache
    ttl = _cache_seconds()
    now = time.monotonic()
    cached = _cache
    if ttl > 0 and cached is not None and now - cached[0] < ttl:
        return cached[1]
    rows = (
        Subscription.objects.filter(active=True)
        .annotate(
            slugs=ArrayAgg(
                "departments__slug",
                filter=Q(departments__isnull=False),
                distinct=True,
                default=Value([]),
            )
        )
        .values_list("pk", "events", "slugs")
    )
    targets = tuple(
        Target(subscription_id=pk, events=frozenset(events), departments=frozenset(slugs))
        for pk, events, slugs in rows
    )
    if ttl > 0:
        _cache = (now, targets)
    return targets


def subscription_targets_forget() -> None:
    global _cache
    _cache = None


def subscriptions_list() -> QuerySet[Subscription]:
    return Subscription.objects.prefetch_related("departments").order_by("id")


def deliveries_list(*, subscription: Subscription) -> QuerySet[Delivery]:
    """One subscription's delivery log; callers order it (newest first is `-id`)."""
    return Delivery.objects.filter(subscription=subscription)


def deliveries_failed_unresent(*, subscription: Subscription) -> QuerySet[Delivery]:
    """Failed deliveries nobody has redelivered yet (the newest link of each chain)."""
    return Delivery.objects.filter(
        subscription=subscription, status=Delivery.Status.FAILED, redeliveries__isnull=True
    )

"""Read-side queries for webhooks: which subscriptions want an event, and the delivery log."""

import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.postgres.aggregates import ArrayAgg
from django.db.models import Exists, OuterRef, Q, QuerySet, Value

from departments.models import Membership
from feedback.principals import ApiKeyPrincipal
from webhooks.models import Delivery, Subscription

# What a subscription gets of one event (Target.hears).
FULL = "full"
OUTSIDE = "outside"  # the event without the sealed departments' data (payloads.payload_outside)


@dataclass(frozen=True)
class Target:
    """What matching needs to know about one active subscription."""

    subscription_id: int
    events: frozenset[str]
    departments: frozenset[str]  # empty: every department
    # Sealed departments it names and was approved for (Subscription.sealed_approved_for).
    approved: frozenset[str] = frozenset()

    def hears(
        self, event: str, departments: frozenset[str], sealed: frozenset[str] = frozenset()
    ) -> str | None:
        """FULL, OUTSIDE or None (nothing) for an event concerning `departments`.

        An event that concerns a sealed department goes as it is only to subscriptions
        that name every sealed department it concerns and were approved for them. Any
        other subscription interested in the event's other departments gets it without
        the sealed part (OUTSIDE); a subscription without a department filter never hears
        a sealed department.
        """
        if event not in self.events:
            return None
        closed = departments & sealed
        if closed and closed <= self.approved:
            return FULL
        rest = departments - closed
        if self.departments and not self.departments & rest:
            return None
        if closed:
            return OUTSIDE if rest else None
        return FULL

    def wants(
        self, event: str, departments: frozenset[str], sealed: frozenset[str] = frozenset()
    ) -> bool:
        return self.hears(event, departments, sealed) is not None


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
        .values_list("pk", "events", "slugs", "sealed_approved_for")
    )
    targets = tuple(
        Target(
            subscription_id=pk,
            events=frozenset(events),
            departments=frozenset(slugs),
            approved=frozenset(slugs) & frozenset(approved),
        )
        for pk, events, slugs, approved in rows
    )
    if ttl > 0:
        _cache = (now, targets)
    return targets


def subscription_targets_forget() -> None:
    global _cache
    _cache = None


def subscriptions_visible_to(viewer) -> QuerySet[Subscription]:
    """The subscriptions `viewer` (request.user: a person or an API key's principal) sees
    and manages. A key: the ones it created. A superuser: all. Other staff: the ones they
    created, and those naming a sealed department they manage (to review and approve
    them). Anyone else: none."""
    rows = (
        Subscription.objects.select_related("sealed_approved_by")
        .prefetch_related("departments")
        .order_by("id")
    )
    if isinstance(viewer, ApiKeyPrincipal):
        return rows.filter(owner_key_id=viewer.key_id)
    if not getattr(viewer, "is_authenticated", False) or not viewer.is_active:
        return rows.none()
    if viewer.is_superuser:
        return rows
    if not viewer.is_staff:
        return rows.none()
    managed_sealed = Subscription.departments.through.objects.filter(
        subscription_id=OuterRef("pk"),
        department__sealed=True,
        department__memberships__user=viewer,
        department__memberships__role=Membership.Role.MANAGER,
    )
    return rows.filter(Q(created_by=viewer) | Exists(managed_sealed))


def subscription_sealed_named(subscription: Subscription) -> set[str]:
    """Slugs of the sealed departments the subscription names (one query)."""
    return set(subscription.departments.filter(sealed=True).values_list("slug", flat=True))


def deliveries_visible_to(viewer) -> QuerySet[Delivery]:
    """Deliveries of the subscriptions `viewer` sees (subscriptions_visible_to)."""
    if not isinstance(viewer, ApiKeyPrincipal) and getattr(viewer, "is_superuser", False):
        return Delivery.objects.all() if viewer.is_active else Delivery.objects.none()
    return Delivery.objects.filter(subscription__in=subscriptions_visible_to(viewer).values("pk"))


def deliveries_list(*, subscription: Subscription) -> QuerySet[Delivery]:
    """One subscription's delivery log; callers order it (newest first is `-id`)."""
    return Delivery.objects.filter(subscription=subscription)


def deliveries_failed_unresent(*, subscription: Subscription) -> QuerySet[Delivery]:
    """Failed deliveries nobody has redelivered yet (the newest link of each chain)."""
    return Delivery.objects.filter(
        subscription=subscription, status=Delivery.Status.FAILED, redeliveries__isnull=True
    )

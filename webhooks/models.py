"""Outbound webhooks: who wants to hear about what (Subscription) and every message we owe
them (Delivery, the delivery log)."""

import secrets

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import URLValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

SECRET_PREFIX = "whsec_"  # noqa: S105  (a label, not a secret)


def secret_new() -> str:
    """A signing secret: 256 random bits, prefixed so people recognise it in a config file."""
    return SECRET_PREFIX + secrets.token_hex(32)


class Event(models.TextChoices):
    ITEM_ROUTED = "item.routed", "Item routed"
    CASE_STATUS_CHANGED = "case.status_changed", "Case status changed"
    CASE_REROUTED = "case.rerouted", "Case rerouted"
    CASE_SHARED = "case.shared", "Case shared"
    SPIKE_DETECTED = "spike.detected", "Spike detected"


class Subscription(models.Model):
    """An HTTP endpoint that receives some events, optionally only for some departments.

    Its owner is the API key that created it (`owner_key`) or the person (`created_by`);
    a key sees and changes only its own. A sealed department's events reach it only for
    the departments in `sealed_approved_for`: approved by that department's manager or a
    superuser, who approve at once what they create themselves. A new URL drops approvals
    that its changer could not give (docs/webhooks.md, "Sealed departments").
    """

    class Format(models.TextChoices):
        JSON = "json", "JSON (signed event envelope)"
        SLACK = "slack", "Slack-compatible message"

    name = models.CharField(max_length=200)
    url = models.URLField(max_length=2000, validators=[URLValidator(schemes=["http", "https"])])
    # Stored in clear because every delivery is signed with it (an HMAC needs the key).
    secret = models.CharField(max_length=100, default=secret_new, editable=False)
    events = ArrayField(models.CharField(max_length=40, choices=Event.choices))
    departments = models.ManyToManyField(
        "departments.Department",
        blank=True,
        related_name="webhook_subscriptions",
        help_text="Only events for these departments. Empty means every department.",
    )
    format = models.CharField(max_length=10, choices=Format.choices, default=Format.JSON)
    active = models.BooleanField(default=True)
    # A deleted key or user leaves the subscription to the superusers (it keeps sending).
    owner_key = models.ForeignKey(
        "feedback.ApiKey",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="webhook_subscriptions",
        help_text="The API key that created it; that key (and superusers) manage it.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    sealed_approved_for = ArrayField(
        models.SlugField(max_length=64),
        default=list,
        blank=True,
        help_text="Sealed departments (slugs) whose events it may receive.",
    )
    sealed_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    sealed_approved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(owner_key__isnull=True) | Q(created_by__isnull=True),
                name="subscription_one_owner",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def secret_hint(self) -> str:
        return self.secret[: len(SECRET_PREFIX) + 4] + "…"


class Delivery(models.Model):
    """One event owed to one subscription, and how sending it went (the delivery log).

    `next_attempt_at` is when a pending delivery is due next. While an attempt is in
    flight it is pushed past the attempt's lease, so no one else starts the same attempt.
    A redelivery is a new row (`redelivery_of` points at the original) so the log keeps
    every failure; both carry the same `event_id`, which receivers deduplicate on.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        # The action it reported was undone within its undo window; never sent.
        WITHDRAWN = "withdrawn", "Withdrawn (action undone)"

    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(max_length=40, choices=Event.choices)
    event_id = models.UUIDField()
    payload = models.JSONField()
    # The sealed departments whose data the payload carries: it is sent (and sent again)
    # only while the subscription is approved for all of them.
    sealed = ArrayField(models.SlugField(max_length=64), default=list, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_ms = models.PositiveIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, help_text="The first 2 KB of the last answer.")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    redelivery_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="redeliveries"
    )

    class Meta:
        verbose_name_plural = "deliveries"
        indexes = [
            # The delivery log of one subscription, newest first (keyset pagination on id).
            models.Index(fields=["subscription", "-id"], name="delivery_log"),
            # What the sweeper looks for: pending deliveries that are (over)due.
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_due",
                condition=Q(status="pending"),
            ),
            # "Redeliver everything that failed" for one subscription.
            models.Index(
                fields=["subscription", "-id"],
                name="delivery_failed",
                condition=Q(status="failed"),
            ),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} ({self.event}, {self.status})"

"""Routing rules and trained classifier versions."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Rule(models.Model):
    """An ordered routing rule. `conditions` and `actions` are validated by routing.rules.

    conditions: [{"field": "body", "op": "contains_any", "value": ["refund", "charge"]}, ...]
    actions:    [{"type": "route_to", "department": "support"}, {"type": "stop"}, ...]
    """

    class Match(models.TextChoices):
        ALL = "all", "All conditions"
        ANY = "any", "Any condition"

    name = models.CharField(max_length=200)
    position = models.PositiveIntegerField(default=100, help_text="Lower runs first.")
    enabled = models.BooleanField(default=True)
    match = models.CharField(max_length=3, choices=Match.choices, default=Match.ALL)
    conditions = models.JSONField(default=list)
    actions = models.JSONField(default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name


class ClassifierVersion(models.Model):
    """A trained department model. The artifact (a numpy .npz, no pickle) lives in the
    database so every worker on every host loads the same bytes."""

    version = models.CharField(max_length=64, unique=True)
    artifact = models.BinaryField()
    labels = models.JSONField(default=list)
    thresholds = models.JSONField(default=dict)
    metrics = models.JSONField(default=dict, blank=True)
    training_summary = models.JSONField(default=dict, blank=True)
    notes = models.TextField(blank=True)
    active = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # At most one active version: activation flips both rows in one transaction.
            models.UniqueConstraint(
                fields=["active"], condition=Q(active=True), name="one_active_classifier"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.version}{' (active)' if self.active else ''}"


class RoutingLabel(models.Model):
    """One staff decision about where an item belongs: the learning loop's unit.

    Written by the case services in the same transaction as the action (route from triage,
    reroute, share, dismiss, mark as noise, resolve), so the correction memory
    (routing/memory.py) sees it at the next routing batch, and the nightly retrain reads
    the same rows. The newest decision per (item, department) wins: a later action updates
    the row. `positive` False says the item does not belong there ("wrong department", a
    reroute away). A confirmation (a person accepted what the product suggested or did)
    weighs less than a correction.
    """

    class Kind(models.TextChoices):
        CORRECTION = "correction", "Correction"
        CONFIRMATION = "confirmation", "Confirmation"

    item = models.ForeignKey(
        "feedback.FeedbackItem", on_delete=models.CASCADE, related_name="routing_labels"
    )
    # A department slug, or "noise". Admin-added departments are labels too.
    department = models.CharField(max_length=64)
    positive = models.BooleanField(default=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.CORRECTION)
    action = models.CharField(max_length=32, help_text="The staff action that gave the label.")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "department"], name="one_label_per_item_dept")
        ]

    def __str__(self) -> str:
        return f"{self.item_id} {'+' if self.positive else '-'}{self.department}"

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

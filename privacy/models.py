"""Privacy records: who opened a sealed department's cases, and which erasures were done.

Neither table holds any post text: an access entry names a case and a viewer, an erasure
entry only counts what it removed.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone


class SealedAccess(models.Model):
    """One viewer shown one case of a sealed department (HR): the department's access log.

    Written by privacy.services.sealed_access_record from the pages and endpoints that show
    such a case; read by the department's managers. The case and item links are cleared
    when an erasure removes them, so the log keeps who looked and when, and nothing that
    points at the erased person.
    """

    class Via(models.TextChoices):
        PAGE = "page", "Item page"
        API = "api", "API"
        EXPORT = "export", "CSV export"

    department = models.ForeignKey(
        "departments.Department", on_delete=models.CASCADE, related_name="+"
    )
    case = models.ForeignKey(
        "departments.Case", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    item = models.ForeignKey(
        "feedback.FeedbackItem",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    api_key = models.ForeignKey(
        "feedback.ApiKey", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Kept as written, so the entry still says who it was after the account or key is gone.
    viewer_name = models.CharField(max_length=255)
    via = models.CharField(max_length=10, choices=Via.choices)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "sealed case access"
        verbose_name_plural = "sealed case accesses"
        indexes = [
            # The log page: one department's entries, newest first.
            models.Index(fields=["department", "-at", "-id"], name="sealed_access_log"),
        ]

    def __str__(self) -> str:
        return f"{self.viewer_name}: case {self.case_id} ({self.via}) at {self.at:%Y-%m-%d %H:%M}"


class Erasure(models.Model):
    """That an author's posts were erased on request: when, by whom, how much. Never what."""

    class Via(models.TextChoices):
        COMMAND = "command", "manage.py erase_author"
        ADMIN = "admin", "Admin action"

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    via = models.CharField(max_length=10, choices=Via.choices)
    # Rows removed per kind ({"items": 3, "cases": 4, ...}); see privacy.services.ERASED_KINDS.
    counts = models.JSONField(default=dict)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return (
            f"erasure {self.pk} at {self.at:%Y-%m-%d %H:%M} ({self.counts.get('items', 0)} posts)"
        )

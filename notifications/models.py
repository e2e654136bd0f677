"""Notifications for staff: a case assigned to me, shared or rerouted to my department, an
@mention in a note, my case about to breach its first-response SLA.

A notification stores no text of its own: its headline and excerpt are made when it is
shown, from the item, case and note read through the access layer as its recipient
(notifications.selectors), so a membership that ended, or an author's erasure, takes the
text with it, and nothing sealed is copied where the access layer cannot see it.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from departments.access import NotificationQuerySet


class Notification(models.Model):
    class Kind(models.TextChoices):
        ASSIGNED = "assigned", "Assigned to you"
        SHARED = "shared", "Shared with your department"
        REROUTED = "rerouted", "Rerouted to your department"
        # A handoff out of a sealed department the recipient is not in: the handoff itself
        # is sealed, so it reads as a new case, without the actor.
        ROUTED = "routed", "New case in your department"
        MENTIONED = "mentioned", "Mentioned in a note"
        BREACH_SOON = "breach_soon", "First response due soon"

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    item = models.ForeignKey("feedback.FeedbackItem", on_delete=models.CASCADE, related_name="+")
    case = models.ForeignKey(
        "departments.Case", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    note = models.ForeignKey(
        "departments.Note", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    # The recipient wants it by email and it has not been sent yet (the task sends it after
    # commit; the beat sweeper sends what a broker outage left behind).
    email_pending = models.BooleanField(default=False)
    emailed_at = models.DateTimeField(null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["recipient", "-created_at", "-id"], name="notification_recent"),
            # The bell's unread count on every page reads only this person's unread rows.
            models.Index(
                fields=["recipient"], name="notification_unread", condition=Q(read_at=None)
            ),
            models.Index(
                fields=["created_at"],
                name="notification_email_pending",
                condition=Q(email_pending=True),
            ),
        ]
        constraints = [
            # "About to breach" is said once per case, however often the sweep runs.
            models.UniqueConstraint(
                fields=["case"], condition=Q(kind="breach_soon"), name="notification_breach_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for user {self.recipient_id} on item {self.item_id}"


class NotificationPreference(models.Model):
    """One person's choices: email (off unless they turn it on) and the departments they
    watch, whose handoffs reach them even when the department is too big to tell everyone
    (see services.HANDOFF_NOTIFY_ALL_UP_TO)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preference"
    )
    email = models.BooleanField(default=False, help_text="Also send my notifications by email.")
    watched = models.ManyToManyField("departments.Department", blank=True, related_name="+")

    def __str__(self) -> str:
        return f"notification preferences of user {self.user_id}"

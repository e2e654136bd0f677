"""Reading notifications: always as their recipient, through the access layer.

The headline and excerpt are made here, from the item, case and note each read through
its own scoped queryset: a notification whose item, case or note the recipient can no
longer see is not listed (NotificationQuerySet) and would get no text from them anyway.
"""

from datetime import timedelta

from django.db.models import QuerySet
from django.template.defaultfilters import truncatechars
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince, timeuntil

from departments.models import Case, Note
from departments.selectors import capped_count
from feedback.models import FeedbackItem
from notifications.models import Notification, NotificationPreference

EXCERPT_CHARS = 140
PANEL_SIZE = 8
PAGE_SIZE = 50
UNREAD_CAP = 99


def notifications_for(user) -> QuerySet:
    """The person's own notifications, newest first, that they may still see."""
    return (
        Notification.objects.visible_to(user)
        .filter(recipient_id=user.pk)
        .order_by("-created_at", "-pk")
    )


def unread_count(user) -> tuple[int, bool]:
    """(count up to UNREAD_CAP, more than that?): one query on the partial unread index."""
    return capped_count(notifications_for(user).filter(read_at__isnull=True), cap=UNREAD_CAP)


def notifications_page(user, *, limit: int = PAGE_SIZE) -> list[Notification]:
    rows = list(notifications_for(user).select_related("actor")[:limit])
    return notifications_describe(user, rows)


def notifications_describe(user, rows: list[Notification]) -> list[Notification]:
    """Give each row `title`, `excerpt` and `url`, reading what they name as `user`; rows
    whose item, case or note `user` cannot see are dropped."""
    items = _by_pk(FeedbackItem.objects.visible_to(user), {n.item_id for n in rows})
    cases = _by_pk(
        Case.objects.visible_to(user).select_related("department"),
        {n.case_id for n in rows if n.case_id},
    )
    notes = _by_pk(
        Note.objects.visible_to(user).select_related("department"),
        {n.note_id for n in rows if n.note_id},
    )
    shown = []
    for n in rows:
        item = items.get(n.item_id)
        case = cases.get(n.case_id) if n.case_id else None
        note = notes.get(n.note_id) if n.note_id else None
        if item is None or (n.case_id and case is None) or (n.note_id and note is None):
            continue
        n.title = _title(n, case, note)
        n.excerpt = truncatechars(note.body if note else item.body, EXCERPT_CHARS)
        n.ago = _ago(n.created_at)
        n.url = reverse("notifications:open", args=[n.pk])
        n.item_url = reverse("departments:item", args=[item.pk])
        shown.append(n)
    return shown


def _ago(when) -> str:
    if timezone.now() - when < timedelta(minutes=1):
        return "just now"
    return f"{timesince(when).split(',')[0]} ago"


def _by_pk(queryset: QuerySet, pks: set[int]) -> dict:
    if not pks:
        return {}
    return {row.pk: row for row in queryset.filter(pk__in=pks)}


def _who(n: Notification) -> str:
    if n.actor is None:
        return "Someone"
    return n.actor.get_full_name() or n.actor.get_username()


def _title(n: Notification, case: Case | None, note: Note | None) -> str:
    """One line saying what happened, in the product's words."""
    department = case.department.name if case else ""
    kind = Notification.Kind
    if n.kind == kind.ASSIGNED:
        if n.actor is None:
            return f"A {department} case was assigned to you automatically"
        return f"{_who(n)} assigned you a {department} case"
    if n.kind == kind.SHARED:
        return f"{_who(n)} shared a case with {department}"
    if n.kind == kind.REROUTED:
        return f"{_who(n)} rerouted a case to {department}"
    if n.kind == kind.ROUTED:
        return f"New case in {department}"
    if n.kind == kind.MENTIONED:
        where = f" ({note.department.name})" if note and note.department else ""
        return f"{_who(n)} mentioned you in a note{where}"
    if n.kind == kind.BREACH_SOON:
        if case and case.due_at and case.first_response_at is None:
            return f"Your {department} case is due for a first response in {timeuntil(case.due_at)}"
        return f"Your {department} case was due for a first response"
    return n.get_kind_display()


def preference_of(user) -> NotificationPreference:
    """The person's preferences (an unsaved default when they never chose)."""
    found = NotificationPreference.objects.filter(user_id=user.pk).first()
    return found or NotificationPreference(user_id=user.pk)

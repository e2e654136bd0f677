"""Read-side queries for departments and cases, and the one access check for items.

Who sees what (one place, used by pages, API, search, counts and exports):
- admins (superusers) and staff see everything;
- an API key sees the items of its own source (or what its linked user sees);
- a department member sees every item except those whose only cases are in a *sealed*
  department they do not belong to (HR by default), and sees no case or note of a sealed
  department they are not in.
"""

import contextlib
from itertools import chain

from django.db.models import Exists, OuterRef, Q, QuerySet

from departments.models import Case, CaseEvent, Department, Membership, Note, SavedView
from feedback.models import FeedbackItem

COUNT_CAP = 10_000


def user_department_ids(user) -> set[int]:
    if not getattr(user, "pk", None):
        return set()
    cached = getattr(user, "_switchboard_department_ids", None)
    if cached is None:
        cached = set(Membership.objects.filter(user=user).values_list("department_id", flat=True))
        with contextlib.suppress(AttributeError):  # frozen principals cannot cache
            user._switchboard_department_ids = cached
    return cached


def user_sees_everything(user) -> bool:
    return bool(getattr(user, "is_superuser", False) or getattr(user, "is_staff", False))


def items_visible_to(user, queryset: QuerySet | None = None) -> QuerySet:
    from feedback.principals import ApiKeyPrincipal

    queryset = FeedbackItem.objects.all() if queryset is None else queryset
    if isinstance(user, ApiKeyPrincipal):
        return queryset.filter(source_id=user.source_id)
    if user_sees_everything(user):
        return queryset
    if not getattr(user, "is_authenticated", False):
        return queryset.none()
    mine = user_department_ids(user)
    if not mine:  # signed in but in no department (not placed yet, or moved out): nothing
        return queryset.none()
    hidden_case = Case.objects.filter(item=OuterRef("pk"), department__sealed=True).exclude(
        department_id__in=mine
    )
    open_case = Case.objects.filter(item=OuterRef("pk")).filter(
        Q(department__sealed=False) | Q(department_id__in=mine)
    )
    return queryset.exclude(Exists(hidden_case) & ~Exists(open_case))


def cases_visible_to(user, queryset: QuerySet | None = None) -> QuerySet:
    from feedback.principals import ApiKeyPrincipal

    queryset = Case.objects.all() if queryset is None else queryset
    if isinstance(user, ApiKeyPrincipal):
        # A key is in no department: its own source's cases, a sealed department's excepted.
        return queryset.filter(item__source_id=user.source_id, department__sealed=False)
    if user_sees_everything(user):
        return queryset
    if not getattr(user, "is_authenticated", False):
        return queryset.none()
    mine = user_department_ids(user)
    if not mine:
        return queryset.none()
    return queryset.filter(Q(department__sealed=False) | Q(department_id__in=mine))


def notes_hidden_from(user, item: FeedbackItem) -> list[int]:
    """Ids of the notes on `item` written in a sealed department `user` is not in (their
    `noted` events must stay hidden too: they name the author)."""
    if user_sees_everything(user):
        return []
    return list(
        Note.objects.filter(item=item, department__sealed=True)
        .exclude(department_id__in=user_department_ids(user))
        .values_list("pk", flat=True)
    )


def departments_for(user) -> QuerySet:
    """The departments whose queues a user works (all of them for admins)."""
    if user_sees_everything(user):
        return Department.objects.order_by("name")
    return Department.objects.filter(pk__in=user_department_ids(user)).order_by("name")


def can_act_on(user, case: Case) -> bool:
    return user_sees_everything(user) or case.department_id in user_department_ids(user)


def capped_count(queryset: QuerySet, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """Count up to `cap` rows (LIMIT in the subquery), so a count never scans a million."""
    n = queryset.order_by()[: cap + 1].count()
    return min(n, cap), n > cap


def item_timeline(user, item: FeedbackItem) -> list:
    """Events and notes on an item, across departments, oldest first; a sealed department's
    entries only for its members."""
    visible_cases = cases_visible_to(user).filter(item=item).values("pk")
    events = (
        CaseEvent.objects.filter(item=item)
        .filter(Q(case__isnull=True) | Q(case__in=visible_cases))
        .select_related("actor", "from_department", "to_department", "case__department")
    )
    notes = Note.objects.filter(item=item).select_related("author", "department")
    if not user_sees_everything(user):
        mine = user_department_ids(user)
        notes = notes.filter(
            Q(department__isnull=True) | Q(department__sealed=False) | Q(department_id__in=mine)
        )
        # A handoff to or from a sealed department names it only to its members.
        events = events.exclude(
            Q(to_department__sealed=True) & ~Q(to_department_id__in=mine) & Q(case__isnull=True)
        ).exclude(kind=CaseEvent.Kind.NOTED, data__note__in=notes_hidden_from(user, item))
    # A handoff is logged on both cases (each department sees it on its own case); show it
    # once on the shared timeline.
    seen_handoffs: set = set()
    unique_events = []
    for event in events:
        if event.kind in (CaseEvent.Kind.REROUTED, CaseEvent.Kind.SHARED):
            key = (
                event.kind,
                event.data.get("from_case"),
                event.data.get("to_case"),
                event.created_at,
            )
            if key in seen_handoffs:
                continue
            seen_handoffs.add(key)
        unique_events.append(event)
    return sorted(chain(unique_events, notes), key=lambda e: (e.created_at, e.pk))


def author_other_posts(user, item: FeedbackItem, limit: int = 10) -> list[FeedbackItem]:
    """The same person's other posts, on this channel and others where the handle matches.

    The authors are found first (a handful of rows), so the posts come from the
    (author, received_at) index instead of a scan of every post."""
    from feedback.models import Author

    if not item.author_id:
        return []
    handle = item.author.handle.lstrip("@")
    author_ids = list(
        Author.objects.filter(
            Q(pk=item.author_id) | Q(handle__iexact=handle) | Q(handle__iexact=f"@{handle}")
        ).values_list("pk", flat=True)[:50]
    )
    return list(
        items_visible_to(user)
        .filter(author_id__in=author_ids)
        .exclude(pk=item.pk)
        .select_related("source")
        .order_by("-received_at")[:limit]
    )


def saved_views_for(user) -> list[SavedView]:
    return list(SavedView.objects.filter(user=user).select_related("department"))


def department_queue(*, department: Department, statuses=Case.OPEN_STATUSES, limit: int = 50):
    return list(
        Case.objects.filter(department=department, status__in=statuses)
        .select_related("item", "item__source", "item__author", "assignee")
        .order_by("-created_at", "-pk")[:limit]
    )

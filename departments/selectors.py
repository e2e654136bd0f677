"""Read-side queries for departments and cases.

Who sees what is decided in one place, departments/access.py (the rules) and
config/access.py (the enforcement): every read here starts from
`Model.objects.visible_to(viewer)`. The helpers below are shorthands for it.
"""

import contextlib
from itertools import chain

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import Q, QuerySet

from departments.access import departments_all, viewer_of
from departments.models import Case, CaseEvent, Department, Membership, Note, SavedView
from feedback.models import FeedbackItem

COUNT_CAP = 10_000


def user_roles(user) -> dict[int, str]:
    """The user's role in each of their departments ({department id: "agent" | "manager"}),
    read once per request (cached on the user object)."""
    if not getattr(user, "pk", None):
        return {}
    cached = getattr(user, "_switchboard_roles", None)
    if cached is None:
        cached = dict(Membership.objects.filter(user=user).values_list("department_id", "role"))
        with contextlib.suppress(AttributeError):  # frozen principals cannot cache
            user._switchboard_roles = cached
            user._switchboard_department_ids = set(cached)
    return cached


def user_department_ids(user) -> set[int]:
    cached = getattr(user, "_switchboard_department_ids", None)
    return set(user_roles(user)) if cached is None else cached


def user_sees_everything(user) -> bool:
    """Superusers: every department, sealed ones included."""
    return viewer_of(user).sees_everything


def items_visible_to(user, queryset: QuerySet | None = None) -> QuerySet:
    queryset = FeedbackItem.objects.all() if queryset is None else queryset
    return queryset.visible_to(user)


def cases_visible_to(user, queryset: QuerySet | None = None) -> QuerySet:
    queryset = Case.objects.all() if queryset is None else queryset
    return queryset.visible_to(user)


def departments_list_for(user) -> list[Department]:
    """The departments whose queues a user works, by name: their own; for superusers every
    one, for other staff every one that is not sealed."""
    everything = user_sees_everything(user)
    mine = user_department_ids(user)
    staff = bool(getattr(user, "is_staff", False))
    return [
        d for d in departments_all(user) if everything or d.pk in mine or (staff and not d.sealed)
    ]


def departments_for(user) -> QuerySet:
    """`departments_list_for` as a queryset, for callers that filter it further."""
    ids = [d.pk for d in departments_list_for(user)]
    return Department.objects.filter(pk__in=ids).order_by("name")


def can_act_on(user, case: Case) -> bool:
    if user_sees_everything(user) or case.department_id in user_department_ids(user):
        return True
    return bool(getattr(user, "is_staff", False)) and not case.department.sealed


def capped_count(queryset: QuerySet, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """Count up to `cap` rows (LIMIT in the subquery), so a count never scans a million."""
    n = queryset.order_by()[: cap + 1].count()
    return min(n, cap), n > cap


def capped_counts(
    querysets: dict[str, QuerySet], cap: int = COUNT_CAP, caps: dict[str, int] | None = None
) -> dict:
    """`capped_count` of several querysets in one round trip: {name: (count, more)}.
    `caps` gives some of them a cap of their own (the sidebar's 99+ beside a page's 999+).

    Each queryset compiles through its own compiler, so the access check still applies to
    every one of them (an unscoped restricted queryset raises here as it would alone)."""
    if not querysets:
        return {}
    caps = {name: (caps or {}).get(name, cap) for name in querysets}
    parts, params, position = [], [], {}
    column = {}  # name -> index of its count in the row (None: counts nothing)
    for name, queryset in querysets.items():
        limited = queryset.order_by().values("pk")[: caps[name] + 1]
        try:
            sql, part_params = limited.query.get_compiler(using=limited.db).as_sql()
        except EmptyResultSet:  # .none(): an invalid filter lists nothing
            column[name] = None
            continue
        key = (sql, tuple(part_params))
        if key not in position:  # the same query twice (a view that is the page's own)
            position[key] = len(parts)
            # sql is Django's own compiled query; every value stays in params.
            parts.append(f"(SELECT count(*) FROM ({sql}) AS capped)")  # noqa: S608
            params.extend(part_params)
        column[name] = position[key]
    row = ()
    if parts:
        using = next(iter(querysets.values())).db
        with connections[using].cursor() as cursor:
            cursor.execute(f"SELECT {', '.join(parts)}", params)
            row = cursor.fetchone()
    counts = {name: 0 if index is None else row[index] for name, index in column.items()}
    return {name: (min(n, caps[name]), n > caps[name]) for name, n in counts.items()}


def item_timeline(user, item: FeedbackItem) -> list:
    """Events and notes on an item, across departments, oldest first, as `user` may see
    them (a sealed department's entries only for its members)."""
    events = (
        CaseEvent.objects.visible_to(user)
        .filter(item=item)
        .select_related("actor", "from_department", "to_department", "case__department")
    )
    notes = list(
        Note.objects.visible_to(user).filter(item=item).select_related("author", "department")
    )
    # A note is shown itself; its "noted" event (kept for the API and webhooks) would say
    # the same thing again. The event stays only if its note is not shown (erased since).
    shown_notes = {note.pk for note in notes}
    # A handoff is logged on both cases (each department sees it on its own case); show it
    # once on the shared timeline.
    seen_handoffs: set = set()
    unique_events = []
    for event in events:
        if event.kind == CaseEvent.Kind.NOTED and event.data.get("note") in shown_notes:
            continue
        if event.kind in (CaseEvent.Kind.REROUTED, CaseEvent.Kind.SHARED):
            # Both rows are written in one transaction, microseconds apart: the pair of
            # cases identifies the handoff.
            key = (event.kind, event.data.get("from_case"), event.data.get("to_case"))
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
        Author.objects.unscoped()  # ids only, used through the viewer's items below
        .filter(Q(pk=item.author_id) | Q(handle__iexact=handle) | Q(handle__iexact=f"@{handle}"))
        .values_list("pk", flat=True)[:50]
    )
    return list(
        FeedbackItem.objects.visible_to(user)
        .filter(author_id__in=author_ids)
        .exclude(pk=item.pk)
        .select_related("source")
        .order_by("-received_at")[:limit]
    )


def saved_views_for(user) -> list[SavedView]:
    return list(SavedView.objects.filter(user=user).select_related("department"))

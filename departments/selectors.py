"""Read-side queries for departments and cases, and the one access check for items.

Who sees what (one place, used by pages, API, search, counts and exports):
- admins (superusers) and staff see everything;
- an API key sees the items of its own source;
- a department member sees every item except those whose only cases are in a *sealed*
  department they do not belong to (HR by default), and sees no case or note of a sealed
  department they are not in.
"""

from django.db.models import Exists, OuterRef, Q, QuerySet

from departments.models import Case, Department, Membership
from feedback.models import FeedbackItem


def user_department_ids(user) -> set[int]:
    if not getattr(user, "pk", None):
        return set()
    return set(Membership.objects.filter(user=user).values_list("department_id", flat=True))


def user_sees_everything(user) -> bool:
    return bool(getattr(user, "is_superuser", False) or getattr(user, "is_staff", False))


def items_visible_to(user, queryset: QuerySet | None = None) -> QuerySet:
    from feedback.services import ApiKeyPrincipal

    queryset = FeedbackItem.objects.all() if queryset is None else queryset
    if isinstance(user, ApiKeyPrincipal):
        return queryset.filter(source_id=user.source_id)
    if user_sees_everything(user):
        return queryset
    if not getattr(user, "is_authenticated", False):
        return queryset.none()
    mine = user_department_ids(user)
    hidden_case = Case.objects.filter(item=OuterRef("pk"), department__sealed=True).exclude(
        department_id__in=mine
    )
    open_case = Case.objects.filter(item=OuterRef("pk")).filter(
        Q(department__sealed=False) | Q(department_id__in=mine)
    )
    return queryset.exclude(Exists(hidden_case) & ~Exists(open_case))


def cases_visible_to(user, queryset: QuerySet | None = None) -> QuerySet:
    from feedback.services import ApiKeyPrincipal

    queryset = Case.objects.all() if queryset is None else queryset
    if isinstance(user, ApiKeyPrincipal):
        return queryset.filter(item__source_id=user.source_id)
    if user_sees_everything(user):
        return queryset
    if not getattr(user, "is_authenticated", False):
        return queryset.none()
    return queryset.filter(
        Q(department__sealed=False) | Q(department_id__in=user_department_ids(user))
    )


def departments_for(user) -> QuerySet:
    """The departments whose queues a user works (all of them for admins)."""
    if user_sees_everything(user):
        return Department.objects.all()
    return Department.objects.filter(memberships__user=user).distinct()


def department_queue(*, department: Department, statuses=Case.OPEN_STATUSES, limit: int = 50):
    return list(
        Case.objects.filter(department=department, status__in=statuses)
        .select_related("item", "item__source", "item__author", "assignee")
        .order_by("-created_at", "-pk")[:limit]
    )

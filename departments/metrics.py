"""Read-side numbers for the API's stats endpoint (the dashboards build on these)."""

from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from departments.models import Case, Department
from departments.selectors import user_department_ids, user_sees_everything
from feedback.models import FeedbackItem


def stats_overview(viewer) -> dict:
    """Open work per department and item states. Sealed departments appear only to their
    members and admins."""
    now = timezone.now()
    departments = Department.objects.order_by("name")
    if not user_sees_everything(viewer):
        mine = user_department_ids(viewer)
        departments = departments.filter(Q(sealed=False) | Q(pk__in=mine))
    open_q = Q(cases__status__in=Case.OPEN_STATUSES)
    rows = departments.annotate(
        open=Count("cases", filter=open_q),
        unassigned=Count("cases", filter=open_q & Q(cases__assignee__isnull=True)),
        overdue=Count(
            "cases", filter=open_q & Q(cases__due_at__lt=now, cases__first_response_at__isnull=True)
        ),
        created_24h=Count("cases", filter=Q(cases__created_at__gte=now - timedelta(hours=24))),
    )
    states = dict(FeedbackItem.objects.values_list("state").annotate(n=Count("pk")))
    return {
        "generated_at": now,
        "items": {state: states.get(state, 0) for state in FeedbackItem.State.values},
        "departments": [
            {
                "slug": d.slug,
                "name": d.name,
                "open": d.open,
                "unassigned": d.unassigned,
                "overdue": d.overdue,
                "created_last_24h": d.created_24h,
            }
            for d in rows
        ],
    }

"""Browser pages for department staff. The full triage workspace builds on these."""

from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.shortcuts import render

from departments.models import Case
from departments.selectors import department_queue, departments_for
from feedback.models import FeedbackItem


@login_required
def home(request):
    """Each of the user's departments with its newest open cases, plus the triage inbox."""
    departments = list(departments_for(request.user))
    open_counts = dict(
        Case.objects.filter(department__in=departments, status__in=Case.OPEN_STATUSES)
        .values("department")
        .annotate(n=Count("pk"))
        .values_list("department", "n")
    )
    queues = [
        {"department": d, "open": open_counts.get(d.pk, 0), "cases": department_queue(department=d)}
        for d in departments
    ]
    triage = list(
        FeedbackItem.objects.filter(state=FeedbackItem.State.TRIAGE)
        .select_related("source", "author")
        .order_by("-received_at")[:20]
    )
    return render(request, "departments/home.html", {"queues": queues, "triage": triage})

"""The access log page of a sealed department, for its managers."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, render

from departments.models import Department
from privacy.selectors import access_log_page, can_read_access_log

PAGE_SIZE = 50
MAX_PAGE = 200  # 10,000 entries back; older ones are in the admin, filtered by date


@login_required
def access_log(request, slug: str):
    department = get_object_or_404(Department, slug=slug)
    # 404, not 403: whether a department keeps a log is nobody else's business either.
    if not can_read_access_log(request.user, department):
        raise Http404
    raw = request.GET.get("page", "1")
    # isascii(): "²".isdigit() is true but int() refuses it (and 5,000 digits, too).
    digits = raw.isascii() and raw.isdigit() and len(raw) <= 9
    page = max(1, min(MAX_PAGE, int(raw))) if digits else 1
    entries, has_next = access_log_page(department=department, page=page, page_size=PAGE_SIZE)
    return render(
        request,
        "privacy/access_log.html",
        {"department": department, "entries": entries, "page": page, "has_next": has_next},
    )

"""Privacy reads: who may read a sealed department's access log, its pages, and finding
the authors an erasure request names."""

from django.db.models import Q, QuerySet

from departments.models import Department, Membership
from feedback.models import Author
from privacy.models import SealedAccess


def can_read_access_log(user, department: Department) -> bool:
    """A sealed department's managers and superusers (not its agents, not other staff:
    the log says which colleague read which case)."""
    if not department.sealed or not getattr(user, "is_authenticated", False):
        return False
    if getattr(user, "is_superuser", False):
        return True
    return Membership.objects.filter(
        user=user, department=department, role=Membership.Role.MANAGER
    ).exists()


def access_log_page(
    *, department: Department, page: int, page_size: int
) -> tuple[list[SealedAccess], bool]:
    """One page of the department's access log, newest first, and whether there is more."""
    start = (page - 1) * page_size
    rows = list(
        SealedAccess.objects.filter(department=department)
        .select_related("user", "api_key", "case", "item")
        .order_by("-at", "-id")[start : start + page_size + 1]
    )
    return rows[:page_size], len(rows) > page_size


def authors_matching(
    *, author_id: int | None = None, handle: str | None = None, source_slug: str | None = None
) -> QuerySet:
    """The Author rows an erasure request names: one by id, or every one with the handle
    (with or without its @, ignoring case, on every channel unless `source_slug` says)."""
    authors = Author.objects.select_related("source").order_by("pk")
    if author_id is not None:
        authors = authors.filter(pk=author_id)
    if handle is not None:
        bare = handle.strip().lstrip("@")
        authors = authors.filter(Q(handle__iexact=bare) | Q(handle__iexact=f"@{bare}"))
    if source_slug is not None:
        authors = authors.filter(source__slug=source_slug)
    return authors

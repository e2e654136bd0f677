"""Privacy reads: who may read a sealed department's access log, and its pages."""

from departments.models import Department, Membership
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

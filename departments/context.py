from departments.models import Membership
from departments.selectors import user_roles


def workspace(request) -> dict:
    """Whether to show managers' links (dashboards) in the top bar."""
    user = getattr(request, "user", None)
    if not getattr(user, "is_authenticated", False):
        return {}
    # From the memberships the page's access checks have read already (one query a request).
    return {"is_manager": user.is_staff or Membership.Role.MANAGER in user_roles(user).values()}

from departments.models import Membership


def workspace(request) -> dict:
    """Whether to show managers' links (dashboards) in the top bar."""
    user = getattr(request, "user", None)
    if not getattr(user, "is_authenticated", False):
        return {}
    return {
        "is_manager": user.is_staff
        or Membership.objects.filter(user=user, role=Membership.Role.MANAGER).exists()
    }

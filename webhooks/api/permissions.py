from feedback.api.auth import ScopePermission
from feedback.principals import ApiKeyPrincipal


class ManageWebhooks(ScopePermission):
    """API keys with the `write` scope, or browser sessions of staff users."""

    scope = "write"

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        if isinstance(request.user, ApiKeyPrincipal):
            return True
        if not request.user.is_staff:
            self.message = "Only staff can manage webhooks."
            return False
        return True

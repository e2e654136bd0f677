from feedback.api.auth import ScopePermission
from feedback.principals import ApiKeyPrincipal


class ManageWebhooks(ScopePermission):
    """API keys with the `webhooks` scope, or browser sessions of staff users. Which
    subscriptions each may touch is the views' business (selectors.subscriptions_visible_to)."""

    scope = "webhooks"

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        if isinstance(request.user, ApiKeyPrincipal):
            return True
        if not request.user.is_staff:
            self.message = "Only staff can manage webhooks."
            return False
        return True

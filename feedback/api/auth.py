"""API-key authentication (`Authorization: Bearer <key>`) and scope permissions."""

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission

from feedback.principals import ApiKeyPrincipal, apikey_authenticate


class ApiKeyAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Malformed Authorization header: use 'Bearer <key>'.")
        try:
            raw_key = parts[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise AuthenticationFailed("Invalid API key.") from exc
        principal = apikey_authenticate(raw_key=raw_key)
        if principal is None:
            raise AuthenticationFailed("Invalid or revoked API key.")
        return principal, principal

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (not 403) when credentials are missing or wrong.
        return 'Bearer realm="api"'


class ScopePermission(BasePermission):
    """Requests by API key need `scope`; browser sessions are checked by the view itself."""

    scope = ""

    def has_permission(self, request, view) -> bool:
        user = request.user
        if isinstance(user, ApiKeyPrincipal):
            if not user.has_scope(self.scope):
                self.message = f"This API key lacks the '{self.scope}' scope."
                return False
            return True
        return bool(user and user.is_authenticated)


class IngestScope(ScopePermission):
    scope = "ingest"

    def has_permission(self, request, view) -> bool:
        if not isinstance(request.user, ApiKeyPrincipal):
            self.message = "Ingest requires an API key with the 'ingest' scope."
            return False
        return super().has_permission(request, view)


class ReadScope(ScopePermission):
    scope = "read"


class WriteScope(ScopePermission):
    scope = "write"


def request_viewer(request):
    """Who the request sees the data as: the logged-in person, the service user an API key
    acts as, or (for a key without one) the key itself, which sees only its own source."""
    user = request.user
    if isinstance(user, ApiKeyPrincipal) and user.acts_as_id:
        cached = getattr(request, "_switchboard_viewer", None)
        if cached is None:
            from django.contrib.auth import get_user_model

            cached = get_user_model().objects.filter(pk=user.acts_as_id, is_active=True).first()
            request._switchboard_viewer = cached or user
        return cached
    return user


def request_actor(request):
    """The Django user an action is done as, or PermissionDenied for a key with no user."""
    from rest_framework.exceptions import PermissionDenied

    viewer = request_viewer(request)
    if isinstance(viewer, ApiKeyPrincipal):
        raise PermissionDenied("This API key is not linked to a user, so it cannot act on cases.")
    return viewer

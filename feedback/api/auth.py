"""API-key authentication (`Authorization: Bearer <key>`) and scope permissions."""

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission

from feedback.services import ApiKeyPrincipal, apikey_authenticate


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

"""Teach drf-spectacular how API keys authenticate (imported by FeedbackConfig.ready)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "feedback.api.auth.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "An API key: `Authorization: Bearer sb_…`. Scopes: ingest, read, write, webhooks."
            ),
        }

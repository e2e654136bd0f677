from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    name = "feedback"

    def ready(self) -> None:
        from feedback.api import schema  # noqa: F401  (registers the OpenAPI auth scheme)

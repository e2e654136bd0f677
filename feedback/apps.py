from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    name = "feedback"

    def ready(self) -> None:
        from feedback import principals  # noqa: F401  (connects the key-cache receivers)
        from feedback.api import schema  # noqa: F401  (registers the OpenAPI auth scheme)

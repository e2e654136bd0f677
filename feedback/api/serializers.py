"""Output serializers for feedback items (input is validated by feedback.validation)."""

from rest_framework import serializers
from rest_framework.reverse import reverse

from departments.models import Case
from feedback.models import Author, FeedbackItem


class AuthorSerializer(serializers.ModelSerializer):
    class Meta:
        model = Author
        fields = ["handle", "name", "url", "followers"]


class CaseSummarySerializer(serializers.ModelSerializer):
    department = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    assignee = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Case
        fields = [
            "id",
            "department",
            "status",
            "assignee",
            "priority",
            "routed_by",
            "reason",
            "confidence",
            "explanation",
            "due_at",
            "created_at",
            "resolved_at",
        ]


class FeedbackItemSerializer(serializers.ModelSerializer):
    source = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    author = AuthorSerializer(read_only=True)
    cases = serializers.SerializerMethodField()
    url_self = serializers.SerializerMethodField()

    class Meta:
        model = FeedbackItem
        fields = [
            "id",
            "url_self",
            "source",
            "external_id",
            "url",
            "author",
            "body",
            "posted_at",
            "received_at",
            "language",
            "in_reply_to",
            "raw",
            "state",
            "error",
            "routed_at",
            "scores",
            "sentiment",
            "sentiment_label",
            "priority",
            "intents",
            "tags",
            "model_version",
            "cases",
        ]

    def get_url_self(self, item) -> str:
        return reverse("api:feedback-detail", args=[item.pk], request=self.context.get("request"))

    def get_cases(self, item) -> list[dict]:
        # The view prefetches only the cases the caller may see (sealed departments' hidden).
        return CaseSummarySerializer(item.cases.all(), many=True).data

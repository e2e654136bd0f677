"""Serializers for feedback items. Input is validated by feedback.validation; the input
serializers here only document the shape in the OpenAPI schema."""

from rest_framework import serializers
from rest_framework.reverse import reverse

from departments.models import Case
from feedback.models import Author, FeedbackItem


class AuthorSerializer(serializers.ModelSerializer):
    class Meta:
        model = Author
        fields = ["handle", "name", "url", "followers"]


class AuthorInSerializer(serializers.Serializer):
    handle = serializers.CharField(max_length=255)
    name = serializers.CharField(max_length=255, required=False)
    url = serializers.URLField(max_length=2000, required=False)
    followers = serializers.IntegerField(min_value=0, required=False)


class FeedbackInSerializer(serializers.Serializer):
    """One post as an integration sends it (documentation of feedback.validation)."""

    source = serializers.SlugField(required=False, help_text="Defaults to the key's source.")
    external_id = serializers.CharField(max_length=255, help_text="Idempotency key per source.")
    body = serializers.CharField(max_length=10_000)
    author = AuthorInSerializer(required=False)
    url = serializers.URLField(max_length=2000, required=False)
    posted_at = serializers.DateTimeField(required=False)
    language = serializers.CharField(max_length=16, required=False)
    in_reply_to = serializers.CharField(max_length=255, required=False)
    raw = serializers.DictField(required=False)


class IngestResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.ChoiceField(["created", "duplicate", "rejected"])
    id = serializers.IntegerField(required=False)
    url = serializers.URLField(required=False)
    errors = serializers.DictField(required=False)


class IngestListResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    duplicate = serializers.IntegerField()
    rejected = serializers.IntegerField()
    results = IngestResultSerializer(many=True)


class CaseSummarySerializer(serializers.ModelSerializer):
    department = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    assignee = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = Case
        fields = [
            "id",
            "department",
            "status",
            "assignee",
            "priority",
            "tags",
            "routed_by",
            "reason",
            "confidence",
            "explanation",
            "due_at",
            "first_response_at",
            "created_at",
            "resolved_at",
        ]


class FeedbackItemSerializer(serializers.ModelSerializer):
    source = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    author = AuthorSerializer(read_only=True, allow_null=True)  # posts may have none
    cases = CaseSummarySerializer(
        many=True, read_only=True, help_text="Every case the caller may see."
    )
    url_self = serializers.SerializerMethodField()
    scores = serializers.SerializerMethodField(
        help_text="The model's score per department, for the departments the caller may see."
    )

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

    def get_scores(self, item) -> dict[str, float]:
        from departments.access import item_scores
        from feedback.api.auth import request_viewer

        request = self.context.get("request")
        return item_scores(request_viewer(request), item) if request else dict(item.scores or {})

    def get_url_self(self, item) -> str:
        return reverse("api:feedback-detail", args=[item.pk], request=self.context.get("request"))

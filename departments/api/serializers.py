from django.contrib.auth import get_user_model
from rest_framework import serializers

from config.api_support import SlugRelatedField
from departments.models import Case, CaseEvent, Department, Note
from departments.services import DISMISS_REASONS
from feedback.api.serializers import AuthorSerializer
from feedback.models import FeedbackItem


class DepartmentSerializer(serializers.ModelSerializer):
    first_response_sla_seconds = serializers.SerializerMethodField()
    resolution_sla_seconds = serializers.SerializerMethodField()

    class Meta:
        model = Department
        fields = [
            "slug",
            "name",
            "colour",
            "sealed",
            "first_response_sla_seconds",
            "resolution_sla_seconds",
        ]

    def get_first_response_sla_seconds(self, dept) -> int:
        return int(dept.first_response_sla.total_seconds())

    def get_resolution_sla_seconds(self, dept) -> int:
        return int(dept.resolution_sla.total_seconds())


class CaseItemSerializer(serializers.ModelSerializer):
    source = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    author = AuthorSerializer(read_only=True, allow_null=True)  # posts may have none

    class Meta:
        model = FeedbackItem
        fields = [
            "id",
            "source",
            "external_id",
            "url",
            "author",
            "body",
            "posted_at",
            "received_at",
            "language",
            "sentiment",
            "sentiment_label",
            "priority",
            "intents",
            "tags",
            "state",
        ]


class CaseSerializer(serializers.ModelSerializer):
    item = CaseItemSerializer(read_only=True)
    department = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    assignee = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = Case
        fields = [
            "id",
            "item",
            "department",
            "status",
            "assignee",
            "priority",
            "tags",
            "routed_by",
            "reason",
            "confidence",
            "explanation",
            "model_version",
            "due_at",
            "resolution_due_at",
            "sla_due_at",
            "sla_paused_at",
            "first_response_at",
            "resolved_at",
            "created_at",
            "updated_at",
        ]


class CaseUpdateSerializer(serializers.Serializer):
    status = serializers.ChoiceField(Case.Status.choices, required=False)
    priority = serializers.ChoiceField(
        FeedbackItem.Priority.choices,
        required=False,
        help_text="The SLA due times follow the new priority's policy.",
    )
    reason = serializers.ChoiceField(
        list(DISMISS_REASONS), required=False, help_text="Required when dismissing."
    )
    assignee = SlugRelatedField(
        slug_field="username",
        queryset=get_user_model().objects.filter(is_active=True),
        required=False,
        allow_null=True,
    )
    add_tags = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, max_length=20
    )
    remove_tags = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, max_length=20
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=10_000)


class HandoffSerializer(serializers.Serializer):
    department = SlugRelatedField(slug_field="slug", queryset=Department.objects.all())
    note = serializers.CharField(required=False, allow_blank=True, max_length=10_000)


class NoteSerializer(serializers.ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    department = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)

    class Meta:
        model = Note
        fields = ["id", "author", "department", "body", "created_at"]
        read_only_fields = ["id", "author", "department", "created_at"]


class NoteInSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=10_000)
    department = SlugRelatedField(
        slug_field="slug",
        queryset=Department.objects.all(),
        required=False,
        help_text="Which of your departments the note is for; needed when you are in several "
        "and the item has a case in more than one of them. A sealed department's note stays "
        "inside it.",
    )


class CaseEventSerializer(serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    from_department = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True
    )
    to_department = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)

    class Meta:
        model = CaseEvent
        fields = [
            "id",
            "kind",
            "case",
            "actor",
            "from_department",
            "to_department",
            "note",
            "data",
            "created_at",
        ]

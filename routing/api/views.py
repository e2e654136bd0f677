from rest_framework import serializers, viewsets
from rest_framework.settings import api_settings

from departments.models import Department
from feedback.api.auth import ReadScope
from routing.models import ClassifierVersion, Rule
from routing.rules import RuleError, rule_compile


class RuleSerializer(serializers.ModelSerializer):
    """A rule as the API shows it. Input is checked by the same rule_compile as the rule
    editor, so a rule the workers could not run (an RE2-unsupported regex, say) is a 400
    with the message under the field it is about."""

    def validate(self, attrs):
        current = self.instance
        try:
            rule_compile(
                pk=current.pk if current else None,
                name=attrs.get("name", current.name if current else ""),
                match=attrs.get("match", current.match if current else Rule.Match.ALL),
                conditions=attrs.get("conditions", current.conditions if current else []),
                actions=attrs.get("actions", current.actions if current else []),
                departments=Department.objects.values_list("slug", flat=True),
            )
        except RuleError as exc:
            field = exc.field or api_settings.NON_FIELD_ERRORS_KEY
            raise serializers.ValidationError({field: [str(exc)]}) from exc
        return attrs

    class Meta:
        model = Rule
        fields = [
            "id",
            "name",
            "position",
            "enabled",
            "match",
            "conditions",
            "actions",
            "created_at",
            "updated_at",
        ]


class ClassifierVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = ClassifierVersion
        fields = [
            "version",
            "labels",
            "thresholds",
            "metrics",
            "training_summary",
            "notes",
            "active",
            "created_at",
            "activated_at",
        ]


class RuleViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [ReadScope]
    serializer_class = RuleSerializer
    queryset = Rule.objects.order_by("position", "id")
    pagination_class = None


class ClassifierVersionViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [ReadScope]
    serializer_class = ClassifierVersionSerializer
    # Never load the artifact bytes for a listing.
    queryset = ClassifierVersion.objects.defer("artifact").order_by("-created_at")
    lookup_field = "version"

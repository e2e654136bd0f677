from rest_framework import serializers, viewsets

from feedback.api.auth import ReadScope
from routing.models import ClassifierVersion, Rule


class RuleSerializer(serializers.ModelSerializer):
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

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from departments.metrics import stats_overview
from feedback.api.auth import ReadScope, request_viewer


class DepartmentStatsSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    open = serializers.IntegerField()
    unassigned = serializers.IntegerField()
    overdue = serializers.IntegerField()
    created_last_24h = serializers.IntegerField()


class StatsSerializer(serializers.Serializer):
    generated_at = serializers.DateTimeField()
    items = serializers.DictField(child=serializers.IntegerField())
    departments = DepartmentStatsSerializer(many=True)


class StatsView(APIView):
    """The headline numbers: item states and open work per department."""

    permission_classes = [ReadScope]

    @extend_schema(responses=StatsSerializer)
    def get(self, request):
        return Response(StatsSerializer(stats_overview(request_viewer(request))).data)

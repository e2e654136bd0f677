"""Feedback endpoints: ingest (one item or a list), list with filters, and one item."""

from django.conf import settings
from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView, RetrieveAPIView
from rest_framework.mixins import ListModelMixin
from rest_framework.response import Response
from rest_framework.reverse import reverse

from config.api_support import ItemPagination, idempotent
from departments.models import Case
from feedback.api.auth import IngestScope, ReadScope, request_viewer
from feedback.api.serializers import (
    FeedbackInSerializer,
    FeedbackItemSerializer,
    IngestListResultSerializer,
    IngestResultSerializer,
)
from feedback.filters import FeedbackItemFilter
from feedback.models import FeedbackItem, Source
from feedback.services import IngestOutcome, feedback_ingest
from privacy.services import sealed_access_record


def visible_items(request):
    viewer = request_viewer(request)
    cases = Case.objects.visible_to(viewer).select_related("department", "assignee")
    return (
        FeedbackItem.objects.visible_to(viewer)
        .select_related("source", "author")
        .prefetch_related(Prefetch("cases", queryset=cases))
    )


def ingest_response(request, payloads: list, outcomes: list[IngestOutcome], *, many: bool):
    """The answer to an ingest request (shared with the adapter endpoints)."""
    results = []
    for outcome in outcomes:
        result = {"index": outcome.index, "status": outcome.status}
        if outcome.item_id is not None:
            result["id"] = outcome.item_id
            result["url"] = reverse("api:feedback-detail", args=[outcome.item_id], request=request)
        if outcome.errors:
            result["errors"] = outcome.errors
        results.append(result)
    counts = {
        s: sum(1 for o in outcomes if o.status == s) for s in ("created", "duplicate", "rejected")
    }
    if not many:
        if outcomes[0].status == "rejected":
            raise ValidationError(outcomes[0].errors)
        code = status.HTTP_201_CREATED if counts["created"] else status.HTTP_200_OK
        return Response(results[0], status=code)
    if counts["created"]:
        code = status.HTTP_201_CREATED
    elif counts["duplicate"]:
        code = status.HTTP_200_OK
    else:
        code = status.HTTP_400_BAD_REQUEST
    return Response({**counts, "results": results}, status=code)


def payload_list(data) -> tuple[list, bool]:
    many = isinstance(data, list)
    if not many and not isinstance(data, dict):
        raise ValidationError({"non_field_errors": ["Expected an object or a list of objects."]})
    payloads = data if many else [data]
    limit = settings.INGEST_MAX_ITEMS
    if many and not payloads:
        raise ValidationError({"non_field_errors": ["The list is empty."]})
    if len(payloads) > limit:
        raise ValidationError(
            {
                "non_field_errors": [
                    f"A list may hold at most {limit} items; this one has {len(payloads)}."
                ]
            }
        )
    return payloads, many


class FeedbackCollectionView(ListModelMixin, GenericAPIView):
    """GET: the items the caller may see, newest first. POST: ingest one item or a list."""

    serializer_class = FeedbackItemSerializer
    pagination_class = ItemPagination
    filterset_class = FeedbackItemFilter

    def get_permissions(self):
        return [IngestScope()] if self.request.method == "POST" else [ReadScope()]

    def get_queryset(self):
        return visible_items(self.request)

    @extend_schema(summary="List feedback items", operation_id="feedback_list")
    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)

    @extend_schema(
        summary="Ingest one post or a list of up to 1,000",
        request=PolymorphicProxySerializer(
            component_name="FeedbackIngestRequest",
            serializers=[FeedbackInSerializer, FeedbackInSerializer(many=True)],
            resource_type_field_name=None,
            many=False,
        ),
        responses={
            201: PolymorphicProxySerializer(
                component_name="FeedbackIngestResponse",
                serializers=[IngestResultSerializer, IngestListResultSerializer],
                resource_type_field_name=None,
                many=False,
            ),
            200: OpenApiResponse(description="Every post was already stored (duplicates)."),
            400: OpenApiResponse(description="Invalid input (problem details)."),
        },
    )
    @idempotent
    def post(self, request):
        payloads, many = payload_list(request.data)
        principal = request.user
        source = Source.objects.get(pk=principal.source_id)
        outcomes = feedback_ingest(
            payloads=payloads, default_source=source, allowed_source_ids={principal.source_id}
        )
        return ingest_response(request, payloads, outcomes, many=many)


class FeedbackDetailView(RetrieveAPIView):
    """One item with its classification and every case the caller may see."""

    permission_classes = [ReadScope]
    serializer_class = FeedbackItemSerializer

    def get_queryset(self):
        return visible_items(self.request)

    def get_object(self):
        item = super().get_object()  # its visible cases are prefetched, with departments
        sealed_access_record(viewer=self.request.user, cases=list(item.cases.all()), via="api")
        return item

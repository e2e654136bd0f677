"""Feedback endpoints: ingest (one item or a list) and reading an item's routing."""

from django.conf import settings
from django.db.models import Prefetch
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import RetrieveAPIView
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from departments.models import Case
from departments.selectors import cases_visible_to, items_visible_to
from feedback.api.auth import IngestScope, ReadScope
from feedback.api.serializers import FeedbackItemSerializer
from feedback.models import Source
from feedback.services import feedback_ingest


class FeedbackIngestView(APIView):
    """POST one item (an object) or up to INGEST_MAX_ITEMS items (a list)."""

    permission_classes = [IngestScope]

    def post(self, request):
        data = request.data
        many = isinstance(data, list)
        if not many and not isinstance(data, dict):
            raise ValidationError(
                {"non_field_errors": ["Expected an object or a list of objects."]}
            )
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
        principal = request.user
        source = Source.objects.get(pk=principal.source_id)
        outcomes = feedback_ingest(
            payloads=payloads, default_source=source, allowed_source_ids={principal.source_id}
        )
        results = []
        for outcome in outcomes:
            result = {"index": outcome.index, "status": outcome.status}
            if outcome.item_id is not None:
                result["id"] = outcome.item_id
                result["url"] = reverse(
                    "api:feedback-detail", args=[outcome.item_id], request=request
                )
            if outcome.errors:
                result["errors"] = outcome.errors
            results.append(result)
        counts = {
            s: sum(1 for o in outcomes if o.status == s)
            for s in ("created", "duplicate", "rejected")
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


class FeedbackDetailView(RetrieveAPIView):
    """One item with its classification and every case the caller may see."""

    permission_classes = [ReadScope]
    serializer_class = FeedbackItemSerializer

    def get_queryset(self):
        cases = cases_visible_to(
            self.request.user, Case.objects.select_related("department", "assignee")
        )
        return (
            items_visible_to(self.request.user)
            .select_related("source", "author")
            .prefetch_related(Prefetch("cases", queryset=cases))
        )

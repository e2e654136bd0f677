"""POST /api/v1/ingest/<adapter>/: ingest a platform's own payload shape through an adapter.

Same authentication (an API key with the `ingest` scope), limits and answer as
POST /api/v1/feedback/; only the input differs. See feedback.adapters and docs/connectors.md.
"""

import dataclasses
import logging

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.views import APIView

from config.api_support import idempotent
from feedback.adapters import ADAPTERS, AdapterError, payload_is_collection
from feedback.api.auth import IngestScope
from feedback.api.serializers import IngestListResultSerializer, IngestResultSerializer
from feedback.api.views import ingest_response
from feedback.models import Source
from feedback.services import IngestOutcome, feedback_ingest

logger = logging.getLogger(__name__)


class AdapterIngestView(APIView):
    """POST one platform payload (an object) or a list of them."""

    permission_classes = [IngestScope]

    @extend_schema(
        summary="Ingest a platform's payload through an adapter",
        description=(
            "Adapters: `x_v2` (X API v2 post response), `reddit_comment` (Reddit comment "
            "thing or Listing), `app_store_review` (App Store Connect customerReviews or a "
            "Google Play review), `web_form` (name, email, message, submitted_at, page_url, "
            "form_id). The answer has the same shape as POST /api/v1/feedback/: one result "
            "for one post, a list when the request is a list or holds several posts."
        ),
        operation_id="ingest_adapter",
        parameters=[
            OpenApiParameter(
                "adapter", OpenApiTypes.STR, OpenApiParameter.PATH, enum=sorted(ADAPTERS)
            )
        ],
        request={"application/json": OpenApiTypes.ANY},
        responses={
            201: PolymorphicProxySerializer(
                component_name="AdapterIngestResponse",
                serializers=[IngestResultSerializer, IngestListResultSerializer],
                resource_type_field_name=None,
                many=False,
            ),
            200: OpenApiResponse(description="Every post was already stored (duplicates)."),
            400: OpenApiResponse(description="The payload could not be adapted or is invalid."),
            404: OpenApiResponse(description="No adapter by that name."),
        },
    )
    @idempotent
    def post(self, request, adapter: str):
        adapt = ADAPTERS.get(adapter)
        if adapt is None:
            raise NotFound(
                f"Unknown adapter '{adapter}'. Known adapters: {', '.join(sorted(ADAPTERS))}."
            )
        data = request.data
        if not isinstance(data, list | dict):
            raise ValidationError(
                {"non_field_errors": ["Expected an object or a list of objects."]}
            )
        inputs = data if isinstance(data, list) else [data]
        if not inputs:
            raise ValidationError({"non_field_errors": ["The list is empty."]})

        # Each input yields its posts, or one rejection standing in for all of them.
        slots: list[dict | dict[str, list[str]]] = []
        adapted: list[bool] = []
        for payload in inputs:
            try:
                posts = adapt(payload)
            except AdapterError as exc:
                slots.append(exc.as_errors())
                adapted.append(False)
                continue
            except Exception as exc:
                # An adapter bug meeting an odd payload is still the payload's answer, not a
                # 500 that hides which input it was.
                logger.exception("adapter %s failed on a payload", adapter)
                slots.append({"non_field_errors": [f"Could not read this payload ({exc!r})."]})
                adapted.append(False)
                continue
            slots.extend(posts)
            adapted.extend([True] * len(posts))

        limit = settings.INGEST_MAX_ITEMS
        if len(slots) > limit:
            raise ValidationError(
                {
                    "non_field_errors": [
                        f"A request may hold at most {limit} posts; this one has {len(slots)}."
                    ]
                }
            )
        principal = request.user
        source = Source.objects.get(pk=principal.source_id)
        payloads = [slot for slot, ok in zip(slots, adapted, strict=True) if ok]
        stored = iter(
            feedback_ingest(
                payloads=payloads,
                default_source=source,
                allowed_source_ids={principal.source_id},
            )
            if payloads
            else []
        )
        outcomes = [
            dataclasses.replace(next(stored), index=index)
            if ok
            else IngestOutcome(index, "rejected", errors=slot)
            for index, (slot, ok) in enumerate(zip(slots, adapted, strict=True))
        ]
        many = isinstance(data, list) or len(slots) != 1 or payload_is_collection(data)
        return ingest_response(request, slots, outcomes, many=many)

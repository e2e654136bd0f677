"""Webhook endpoints: subscriptions, their delivery logs, and redelivery."""

from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.generics import ListAPIView, RetrieveAPIView
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.viewsets import GenericViewSet

from config.api_support import NewestFirstPagination
from webhooks.api.permissions import ManageWebhooks
from webhooks.api.serializers import (
    DeliverySerializer,
    RedeliverFailedResultSerializer,
    SubscriptionInSerializer,
    SubscriptionSerializer,
    SubscriptionWithSecretSerializer,
)
from webhooks.filters import DeliveryFilterSet
from webhooks.models import Delivery, Subscription
from webhooks.selectors import deliveries_list, subscriptions_list
from webhooks.services import (
    WebhookError,
    delivery_redeliver,
    subscription_create,
    subscription_delete,
    subscription_redeliver_failed,
    subscription_secret_rotate,
    subscription_update,
)


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


def _api_error(exc: WebhookError) -> APIException:
    if exc.conflict:
        return Conflict(str(exc))
    return ValidationError({exc.field or "non_field_errors": [str(exc)]})


INVALID = OpenApiResponse(description="Invalid input (problem details, with field errors).")
CONFLICT = OpenApiResponse(description="Not possible in the delivery's current state.")


@extend_schema_view(
    list=extend_schema(summary="List webhook subscriptions", operation_id="webhooks_list"),
    create=extend_schema(
        summary="Subscribe an endpoint to events",
        request=SubscriptionInSerializer,
        responses={201: SubscriptionWithSecretSerializer, 400: INVALID},
        description="The answer holds the signing `secret`; it is not shown again.",
    ),
    retrieve=extend_schema(summary="Read a webhook subscription"),
    update=extend_schema(
        summary="Replace a webhook subscription",
        request=SubscriptionInSerializer,
        responses={200: SubscriptionSerializer, 400: INVALID},
    ),
    partial_update=extend_schema(
        summary="Change some fields of a webhook subscription",
        request=SubscriptionInSerializer,
        responses={200: SubscriptionSerializer, 400: INVALID},
    ),
    destroy=extend_schema(
        summary="Delete a webhook subscription and its delivery log", responses={204: None}
    ),
)
class SubscriptionViewSet(GenericViewSet):
    """Webhook subscriptions: staff sessions or API keys with the `write` scope."""

    permission_classes = [ManageWebhooks]
    serializer_class = SubscriptionSerializer
    queryset = Subscription.objects.none()  # for the schema; the methods use the selector

    def _get(self, pk) -> Subscription:
        return get_object_or_404(subscriptions_list(), pk=pk)

    def _out(self, subscription: Subscription, *, with_secret: bool = False) -> dict:
        cls = SubscriptionWithSecretSerializer if with_secret else SubscriptionSerializer
        return cls(subscription, context={"request": self.request}).data

    def list(self, request):
        # Subscriptions are a handful per organisation: no pagination needed.
        rows = subscriptions_list()
        return Response(SubscriptionSerializer(rows, many=True, context={"request": request}).data)

    def create(self, request):
        incoming = SubscriptionInSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        try:
            subscription = subscription_create(**incoming.validated_data)
        except WebhookError as exc:
            raise _api_error(exc) from exc
        return Response(self._out(subscription, with_secret=True), status=status.HTTP_201_CREATED)

    def retrieve(self, request, pk=None):
        return Response(self._out(self._get(pk)))

    def update(self, request, pk=None, partial=False):
        subscription = self._get(pk)
        incoming = SubscriptionInSerializer(data=request.data, partial=partial)
        incoming.is_valid(raise_exception=True)
        try:
            subscription = subscription_update(subscription=subscription, **incoming.validated_data)
        except WebhookError as exc:
            raise _api_error(exc) from exc
        return Response(self._out(self._get(subscription.pk)))

    def partial_update(self, request, pk=None):
        return self.update(request, pk=pk, partial=True)

    def destroy(self, request, pk=None):
        subscription_delete(subscription=self._get(pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class SubscriptionSecretRotateView(APIView):
    """A new signing secret, shown in this answer only; the old one stops at once."""

    permission_classes = [ManageWebhooks]

    @extend_schema(
        summary="Rotate a subscription's signing secret",
        request=None,
        responses=SubscriptionWithSecretSerializer,
    )
    def post(self, request, pk):
        subscription = get_object_or_404(subscriptions_list(), pk=pk)
        subscription = subscription_secret_rotate(subscription=subscription)
        data = SubscriptionWithSecretSerializer(subscription, context={"request": request}).data
        return Response(data)


class DeliveryPagination(NewestFirstPagination):
    ordering = ("-pk",)  # newest first, matching the (subscription, -id) index


class SubscriptionDeliveriesView(ListAPIView):
    """The delivery log of one subscription, newest first (filter with `?status=failed`)."""

    permission_classes = [ManageWebhooks]
    serializer_class = DeliverySerializer
    pagination_class = DeliveryPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = DeliveryFilterSet

    @extend_schema(summary="A subscription's delivery log")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no URL kwargs
            return Delivery.objects.none()
        subscription = get_object_or_404(Subscription, pk=self.kwargs["pk"])
        return deliveries_list(subscription=subscription)


@extend_schema_view(get=extend_schema(summary="One delivery, with its last answer"))
class DeliveryDetailView(RetrieveAPIView):
    permission_classes = [ManageWebhooks]
    serializer_class = DeliverySerializer
    queryset = Delivery.objects.all()


class DeliveryRedeliverView(APIView):
    """Send a finished delivery again, as a new delivery with the same event id. While that
    redelivery is pending, repeating the POST returns it instead of queueing another."""

    permission_classes = [ManageWebhooks]

    @extend_schema(
        summary="Redeliver a delivery",
        request=None,
        responses={202: DeliverySerializer, 409: CONFLICT},
    )
    def post(self, request, pk):
        delivery = get_object_or_404(Delivery, pk=pk)
        try:
            redelivery = delivery_redeliver(delivery=delivery)
        except WebhookError as exc:
            raise _api_error(exc) from exc
        data = DeliverySerializer(redelivery, context={"request": request}).data
        return Response(data, status=status.HTTP_202_ACCEPTED)


class SubscriptionRedeliverFailedView(APIView):
    """After an outage: redeliver every failed delivery of the subscription that has not
    been redelivered yet (up to 1,000 per call; call again for more)."""

    permission_classes = [ManageWebhooks]

    @extend_schema(
        summary="Redeliver all failed deliveries of a subscription",
        request=None,
        responses={202: RedeliverFailedResultSerializer, 409: CONFLICT},
    )
    def post(self, request, pk):
        subscription = get_object_or_404(Subscription, pk=pk)
        try:
            count = subscription_redeliver_failed(subscription=subscription)
        except WebhookError as exc:
            raise _api_error(exc) from exc
        data = RedeliverFailedResultSerializer({"redelivered": count}).data
        return Response(data, status=status.HTTP_202_ACCEPTED)
